import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VigilCore

/// What `/health` knows about the scheduler: whether the dispatch loops are running.
public final class SchedulerStatus: Sendable {
    private struct State {
        var running = false
        var beats: [String: Date] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public var isRunning: Bool { state.withLock { $0.running } }
    public var lastBeats: [String: Date] { state.withLock { $0.beats } }

    func setRunning(_ running: Bool) { state.withLock { $0.running = running } }
    func beat(queue: String, at date: Date) { state.withLock { $0.beats[queue] = date } }
}

/// The task workers as one service: a dispatch loop per queue. On graceful shutdown each loop
/// stops claiming, running tasks finish (or, if cancelled, give their lease back), then it returns.
public struct TaskWorkers<Transaction>: Service {
    public let workers: [QueueWorker<Transaction>]
    public let status: SchedulerStatus
    let logger: Logger

    public init(workers: [QueueWorker<Transaction>], status: SchedulerStatus, logger: Logger) {
        self.workers = workers
        self.status = status
        self.logger = logger
    }

    public func run() async throws {
        let stopping = StopFlag()
        let hub = workers.first?.store.wakeups
        status.setRunning(true)
        defer { status.setRunning(false) }
        logger.info("task workers started", metadata: ["queues": "\(workers.map(\.config.name).joined(separator: ","))"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for worker in workers {
                    group.addTask {
                        await worker.run(stopping: { stopping.isSet }, status: status)
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            hub?.wake(queues: workers.map(\.config.name))
        }
        logger.info("task workers stopped")
    }
}

/// Set once when graceful shutdown begins.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

extension TaskWorkers: CustomStringConvertible {
    /// ServiceLifecycle logs services by description; keep it to the queue names.
    public var description: String { "TaskWorkers(\(workers.map(\.config.name).joined(separator: ",")))" }
}
