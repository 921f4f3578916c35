import ArgumentParser
import Foundation
import Synchronization
import VigilCore
import VigilQueue
import VigilStore

/// Task dispatch and timer accuracy: real workers (`QueueWorker.run`, the system clock, the
/// store's wake-ups) running no-op tasks. `--instances 2` runs two workers with separate stores
/// (separate pools on PostgreSQL), as two processes would.
struct Dispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Timers due in the same second (dispatch rate and lag), or a steady trickle of timers (lag).")

    @Option(help: "sqlite://PATH or postgres://... (a fresh database).") var database: String
    @Option(help: "Timers due in the same second.") var tasks = 10_000
    @Option(help: "Tasks running at once per instance (VIGIL_WORKER_CONCURRENCY).") var workers = 256
    @Option(help: "Seconds over which the burst's timers come due (0: all at one instant).") var spread = 1.0
    @Option(help: "Worker instances, each with its own store.") var instances = 1
    @Option(help: "Instead of a burst: timers per second for --seconds, each due 1 s after it is created.") var trickle: Int?
    @Option(help: "Length of the trickle.") var seconds = 10

    final class Recorder: Sendable {
        let lags = Mutex<[Double]>([])
        let completed = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        func started(lag: TimeInterval) { lags.withLock { $0.append(lag * 1000) } }
    }

    struct NoOp: TaskHandler {
        typealias Transaction = any StoreTransaction
        let recorder: Recorder
        func perform(_ task: ClaimedTask) async throws -> TaskOutcome<any StoreTransaction> {
            recorder.started(lag: Date().timeIntervalSince(task.task.scheduledAt))
            let recorder = recorder
            return TaskOutcome { _ in recorder.completed.add(1, ordering: .relaxed) }
        }
        func failed(_ task: ClaimedTask, error: String, dead: Bool) -> (@Sendable (any StoreTransaction) async throws -> Void)? { nil }
    }

    func run() async throws {
        let stores = try await (0..<instances).asyncMap { _ in try await BenchStore.open(database, poolMax: workers + 4) }
        let recorder = Recorder()
        let queue = QueueConfig(name: "bench-\(UInt32.random(in: 0...UInt32.max))", maxConcurrent: workers)
        let total = trickle.map { $0 * seconds } ?? tasks
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { try await store.run() } }
            for store in stores { try await store.waitUntilReachable(timeout: 10) }
            _ = try await stores[0].migrate()
            // The workers in a group of their own, so the run can stop them and wait for their last
            // completions to commit before the stores go away.
            try await withThrowingTaskGroup(of: Void.self) { running in
                for (i, store) in stores.enumerated() {
                    let worker = QueueWorker<any StoreTransaction>(
                        config: queue, store: store.taskStore, handler: NoOp(recorder: recorder), clock: SystemClock(),
                        owner: "bench-\(i)", leaseDuration: 60, logger: BenchStore.logger)
                    running.addTask { await worker.run(stopping: { recorder.stopping.load(ordering: .relaxed) }, status: SchedulerStatus()) }
                }
                let producer = stores[0]
                let firstDue: Date
                if let rate = trickle {
                    firstDue = Date().addingTimeInterval(1)
                    let interval = 1.0 / Double(rate)
                    let start = Date()
                    for n in 0..<total {
                        let at = start.addingTimeInterval(Double(n) * interval)
                        try await SystemClock().sleep(until: at)
                        _ = try await producer.write { tx in
                            try await tx.enqueue(NewTask(name: "\(queue.name)-\(n)", queue: queue.name, kind: "noop",
                                                         runAt: at.addingTimeInterval(1)), now: Date())
                        }
                    }
                } else {
                    // Enqueued ahead, all due in one second; the workers sleep until then.
                    firstDue = Date().addingTimeInterval(Double(tasks) / 2000 + 3)
                    for batch in stride(from: 0, to: tasks, by: 500) {
                        _ = try await producer.write { tx in
                            for n in batch..<min(batch + 500, tasks) {
                                _ = try await tx.enqueue(NewTask(
                                    name: "\(queue.name)-\(n)", queue: queue.name, kind: "noop",
                                    runAt: firstDue.addingTimeInterval(spread * Double(n % 1000) / 1000)), now: Date())
                            }
                        }
                    }
                    guard Date() < firstDue else { throw ValidationError("enqueuing took longer than planned; use fewer --tasks") }
                }
                while recorder.completed.load(ordering: .relaxed) < total { try await Task.sleep(for: .milliseconds(5)) }
                let finished = Date()
                recorder.stopping.store(true, ordering: .relaxed)
                for store in stores { store.taskStore.wakeups.signal(for: queue.name).signal() }
                try await running.waitForAll()
                let lags = Latencies(recorder.lags.withLock { $0 })
                if trickle == nil {
                    let span = finished.timeIntervalSince(firstDue)
                    let due = spread > 0 ? String(format: "due within %g s", spread) : "all due at one instant"
                    print("dispatch: \(total) timers \(due), " + String(format: "%d instance(s) × %d workers: all completed %.2f s after the first was due, %.0f tasks/s",
                                 instances, workers, span, Double(total) / span))
                } else {
                    print("trickle: \(total) timers at \(trickle ?? 0)/s, each due 1 s after creation, \(instances) instance(s) × \(workers) workers")
                }
                print("lag from due time to start: \(lags.summary)")
                print("batching: " + stores.map(BenchStore.batching).joined(separator: "; "))
            }
            group.cancelAll()
        }
        for store in stores { try? await store.close() }
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ transform: (Int) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for i in self { out.append(try await transform(i)) }
        return out
    }
}
