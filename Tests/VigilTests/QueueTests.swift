import Foundation
import Synchronization
import Testing
import VigilCore
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

/// A handler that records what ran and fails on demand.
final class RecordingHandler: TaskHandler, Sendable {
    typealias Transaction = any StoreTransaction
    private let state = Mutex<(ran: [String], failures: [String: Int], permanent: Set<String>)>(([], [:], []))
    let ranStream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init() {
        (ranStream, continuation) = AsyncStream.makeStream()
    }

    var ran: [String] { state.withLock { $0.ran } }
    func failNext(_ name: String, times: Int) { state.withLock { $0.failures[name] = times } }
    func failPermanently(_ name: String) { _ = state.withLock { $0.permanent.insert(name) } }

    func perform(_ task: ClaimedTask) async throws -> TaskOutcome<any StoreTransaction> {
        let name = task.task.name
        let outcome: Int = state.withLock { s in
            if s.permanent.contains(name) { return 2 }
            if let left = s.failures[name], left > 0 {
                s.failures[name] = left - 1
                return 1
            }
            s.ran.append(name)
            return 0
        }
        switch outcome {
        case 2: throw PermanentTaskError("no")
        case 1: throw TestFailure(description: "provider said 500")
        default:
            continuation.yield(name)
            return TaskOutcome { tx in
                try await tx.log(orderId: nil, type: "ran", at: Date(), data: JSONCoding.object(["name": name]))
            }
        }
    }

    func failed(_ task: ClaimedTask, error: String, dead: Bool) -> (@Sendable (any StoreTransaction) async throws -> Void)? {
        { tx in try await tx.log(orderId: nil, type: dead ? "dead" : "failed", at: Date(), data: "{}") }
    }
}

struct TestFailure: Error, CustomStringConvertible { let description: String }

@Suite("Durable task queue on SQLite")
struct QueueTests {
    let queue = QueueConfig(name: "q", maxAttempts: 3, maxRetryDuration: 0, minBackoff: 10, maxBackoff: 300, maxDoublings: 3)

    func worker(_ store: any Store, _ clock: ManualClock, _ handler: RecordingHandler, owner: String = "w1",
                config: QueueConfig? = nil, lease: TimeInterval = 30) -> QueueWorker<any StoreTransaction> {
        QueueWorker<any StoreTransaction>(config: config ?? queue, store: store.taskStore, handler: handler, clock: clock,
                                          owner: owner, leaseDuration: lease, logger: quietLogger)
    }

    /// Enqueues a task and returns it as stored.
    @discardableResult
    func enqueue(_ store: any Store, _ name: String, at: Date, queue: String = "q") async throws -> TaskRecord {
        try await store.write { tx in try await tx.enqueue(NewTask(name: name, queue: queue, kind: "k", runAt: at), now: at) }
        return try #require(try await store.task(named: name))
    }

    @Test("names are unique: a second enqueue returns the existing task", arguments: Backend.allCases)
    func uniqueNames(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let now = Date()
            #expect(try await store.write { tx in try await tx.enqueue(NewTask(name: "a", queue: "q", kind: "k", runAt: now), now: now) })
            let first = try #require(try await store.task(named: "a"))
            #expect(try await !store.write { tx in
                try await tx.enqueue(NewTask(name: "a", queue: "q", kind: "k", runAt: now.addingTimeInterval(99)), now: now)
            }, "a second enqueue of the name creates nothing")
            let again = try #require(try await store.task(named: "a"))
            #expect(again.id == first.id)
            #expect(again.scheduledAt == first.scheduledAt)
            #expect(try await store.tasks(queue: "q", state: nil, limit: 10).count == 1)
        }
    }

    @Test("a due task runs once and succeeds; a future one waits", arguments: Backend.allCases)
    func runsWhenDue(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = RecordingHandler()
            try await enqueue(store, "now", at: clock.now())
            try await enqueue(store, "later", at: clock.now().addingTimeInterval(3600))
            let w = worker(store, clock, handler)
            #expect(try await w.runDueTasks() == 1)
            #expect(handler.ran == ["now"])
            #expect(try await store.task(named: "now")?.state == .succeeded)
            #expect(try await store.task(named: "now")?.attempts == 1)
            #expect(try await store.task(named: "later")?.state == .scheduled)
            #expect(try await store.nextDueTime(queue: "q") == clock.now().addingTimeInterval(3600))
            clock.advance(by: 3600)
            #expect(try await w.runDueTasks() == 1)
            #expect(handler.ran == ["now", "later"])
            #expect(try await w.runDueTasks() == 0)
        }
    }

    @Test("failures retry on the backoff schedule, then dead-letter at maxAttempts", arguments: Backend.allCases)
    func retryThenDead(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = RecordingHandler()
            let start = clock.now()
            try await enqueue(store, "t", at: start)
            handler.failNext("t", times: 10)
            let w = worker(store, clock, handler)

            try await w.runDueTasks()
            var task = try #require(try await store.task(named: "t"))
            #expect(task.state == .retrying && task.attempts == 1)
            #expect(task.scheduledAt == start.addingTimeInterval(10))
            #expect(task.lastError == "provider said 500")

            clock.advance(by: 9)
            #expect(try await w.runDueTasks() == 0, "not due before its backoff")
            clock.advance(by: 1)
            try await w.runDueTasks()
            task = try #require(try await store.task(named: "t"))
            #expect(task.state == .retrying && task.attempts == 2)
            #expect(task.scheduledAt == start.addingTimeInterval(10 + 20))

            clock.advance(by: 20)
            try await w.runDueTasks()
            task = try #require(try await store.task(named: "t"))
            #expect(task.state == .dead && task.attempts == 3)
            #expect(try await store.tasks(queue: "q", state: .dead, limit: 10).map(\.name) == ["t"])
            #expect(handler.ran.isEmpty)
        }
    }

    @Test("maxRetryDuration dead-letters once both limits are reached", arguments: Backend.allCases)
    func retryDuration(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = RecordingHandler()
            let config = QueueConfig(name: "q", maxAttempts: 2, maxRetryDuration: 100, minBackoff: 60, maxBackoff: 60, maxDoublings: 0)
            try await enqueue(store, "t", at: clock.now())
            handler.failNext("t", times: 100)
            let w = worker(store, clock, handler, config: config)
            try await w.runDueTasks()                         // attempt 1 at t=0
            clock.advance(by: 60); try await w.runDueTasks()  // attempt 2 at t=60: attempts reached, duration not
            #expect(try await store.task(named: "t")?.state == .retrying)
            clock.advance(by: 60); try await w.runDueTasks()  // attempt 3 at t=120: both reached
            #expect(try await store.task(named: "t")?.state == .dead)
            #expect(try await store.task(named: "t")?.attempts == 3)
        }
    }

    @Test("a permanent error dead-letters at once; a dead task can be re-driven", arguments: Backend.allCases)
    func permanentAndRedrive(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = RecordingHandler()
            let id = try await enqueue(store, "t", at: clock.now()).id
            handler.failPermanently("t")
            let w = worker(store, clock, handler)
            try await w.runDueTasks()
            #expect(try await store.task(named: "t")?.state == .dead)
            #expect(try await store.eventLog(since: nil, until: nil, afterId: 0, limit: 10).map(\.type) == ["dead"])

            #expect(try await store.retryDeadTask(id: id, now: clock.now()))
            #expect(try await !store.retryDeadTask(id: id, now: clock.now()), "only dead tasks can be re-driven")
            let redriven = try #require(try await store.task(named: "t"))
            #expect(redriven.state == .scheduled && redriven.attempts == 0)
        }
    }

    @Test("cancel: scheduled tasks are cancelled; repeat, unknown and finished cancels are not errors", arguments: Backend.allCases)
    func cancel(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = RecordingHandler()
            let a = try await enqueue(store, "a", at: clock.now().addingTimeInterval(60)).id
            let b = try await enqueue(store, "b", at: clock.now()).id
            #expect(try await store.cancelTask(id: a, now: clock.now()))
            #expect(try await !store.cancelTask(id: a, now: clock.now()))
            #expect(try await !store.cancelTask(id: 999_999, now: clock.now()))
            try await worker(store, clock, handler).runDueTasks()
            #expect(try await !store.cancelTask(id: b, now: clock.now()), "a succeeded task stays succeeded")
            #expect(try await store.task(named: "b")?.state == .succeeded)
            clock.advance(by: 120)
            #expect(try await worker(store, clock, handler).runDueTasks() == 0, "a cancelled task never runs")
            #expect(try await store.task(named: "a")?.state == .cancelled)
            #expect(try await store.write { tx in try await tx.cancelTasks(orderId: "nope", kinds: ["k"], now: clock.now()) } == 0,
                    "cancelling an unknown order's tasks is not an error")
        }
    }

    @Test("a task whose worker died runs again when its lease expires, and the dead worker's late result is refused", arguments: Backend.allCases)
    func leaseExpiry(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock()
            try await enqueue(store, "t", at: clock.now())
            let claimed = try await store.claimTasks(queue: "q", limit: 10, owner: "dead-worker", now: clock.now(), leaseDuration: 30)
            #expect(claimed.count == 1)
            #expect(try await store.claimTasks(queue: "q", limit: 10, owner: "w2", now: clock.now(), leaseDuration: 30).isEmpty,
                    "a leased task is not claimed twice")
            #expect(try await store.nextDueTime(queue: "q") == clock.now().addingTimeInterval(30))

            clock.advance(by: 31)
            let handler = RecordingHandler()
            #expect(try await worker(store, clock, handler, owner: "w2").runDueTasks() == 1)
            #expect(handler.ran == ["t"])
            let task = try #require(try await store.task(named: "t"))
            #expect(task.state == .succeeded && task.attempts == 2)

            let late = try await store.completeTask(claimed[0], now: clock.now(), outcome: TaskOutcome { tx in
                try await tx.log(orderId: nil, type: "must-not-commit", at: Date(), data: "{}")
            })
            #expect(!late)
            #expect(try await store.eventLog(since: nil, until: nil, afterId: 0, limit: 10).map(\.type) == ["ran"])
        }
    }

    @Test("a task whose attempts keep dying with their worker is dead-lettered at the retry limit, not re-run for ever", arguments: Backend.allCases)
    func crashLoopDeadLetters(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock()
            try await enqueue(store, "poison", at: clock.now())
            for attempt in 1...queue.maxAttempts {
                let claimed = try await store.claimTasks(queue: "q", limit: 1, owner: "crashed-\(attempt)", now: clock.now(), leaseDuration: 30)
                #expect(claimed.first?.task.attempts == attempt)
                clock.advance(by: 31)
            }
            let handler = RecordingHandler()
            #expect(try await worker(store, clock, handler).runDueTasks() == 1)
            #expect(handler.ran.isEmpty, "the task is not run again")
            let task = try #require(try await store.task(named: "poison"))
            #expect(task.state == .dead)
            #expect(task.lastError?.contains("without an outcome") == true)
            #expect(try await store.retryDeadTask(id: task.id, now: clock.now()), "a dead task can be re-driven")
        }
    }

    @Test("a released task is claimable again without losing an attempt", arguments: Backend.allCases)
    func release(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock()
            try await enqueue(store, "t", at: clock.now())
            let claimed = try await store.claimTasks(queue: "q", limit: 1, owner: "w", now: clock.now(), leaseDuration: 30)
            try await store.releaseTask(claimed[0], runAt: clock.now(), note: nil, now: clock.now())
            let task = try #require(try await store.task(named: "t"))
            #expect(task.state == .scheduled && task.attempts == 0 && task.firstAttemptAt == nil)
            #expect(try await store.claimTasks(queue: "q", limit: 1, owner: "w", now: clock.now(), leaseDuration: 30).count == 1)
        }
    }

    @Test("the worker sleeps until the next due task, is woken early by an earlier enqueue, and runs each on time", arguments: Backend.allCases)
    func sleepAndWake(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = RecordingHandler()
            let start = clock.now()
            let w = worker(store, clock, handler)
            let status = SchedulerStatus()
            let stop = TestFlag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await w.run(stopping: { stop.isSet }, status: status)
                }
                var ran = handler.ranStream.makeAsyncIterator()

                // Idle: the worker sleeps only up to its safety cap.
                await clock.waitForSleeper(until: start.addingTimeInterval(300))
                try await enqueue(store, "in-an-hour", at: start.addingTimeInterval(3600))
                await clock.waitForSleeper(until: start.addingTimeInterval(300))
                try await enqueue(store, "in-a-minute", at: start.addingTimeInterval(60))
                // Woken by the enqueue, it now sleeps exactly until the earlier task is due.
                await clock.waitForSleeper(until: start.addingTimeInterval(60))
                #expect(handler.ran.isEmpty)

                clock.advance(to: start.addingTimeInterval(60))
                #expect(await ran.next() == "in-a-minute")
                // Then it sleeps until its safety cap (< 1h): at start+60+300.
                await clock.waitForSleeper(until: start.addingTimeInterval(360))
                clock.advance(to: start.addingTimeInterval(360))
                await clock.waitForSleeper(until: start.addingTimeInterval(660))
                clock.advance(to: start.addingTimeInterval(3600))
                #expect(await ran.next() == "in-an-hour")

                stop.set()
                store.wakeups.wake(queues: ["q"])
                try await group.waitForAll()
            }
            #expect(handler.ran == ["in-a-minute", "in-an-hour"])
        }
    }

    @Test("rate limit: maxDispatchesPerSecond bounds how many tasks start per second")
    func rateLimit() async throws {
        var bucket = TestBucket(rate: 2, burst: 2)
        #expect(bucket.takeAll(at: 0) == 2)
        #expect(bucket.takeAll(at: 0.4) == 0)
        #expect(bucket.takeAll(at: 0.5) == 1)
        #expect(bucket.takeAll(at: 10) == 2, "never more than the burst")
    }
}

/// Drives the queue's token bucket from seconds since an origin.
struct TestBucket {
    var bucket: QueueRateLimiter
    let origin = Date(timeIntervalSince1970: 0)

    init(rate: Double, burst: Int) {
        bucket = QueueRateLimiter(rate: rate, burst: burst, now: origin)
    }

    mutating func takeAll(at seconds: TimeInterval) -> Int {
        let now = origin.addingTimeInterval(seconds)
        let n = bucket.available(at: now)
        bucket.take(n, at: now)
        return n
    }
}

final class TestFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// A handler whose task runs until the test lets it finish.
final class BlockingHandler: TaskHandler, Sendable {
    typealias Transaction = any StoreTransaction
    let started = WakeSignal()
    let release = WakeSignal()

    func perform(_ task: ClaimedTask) async throws -> TaskOutcome<any StoreTransaction> {
        started.signal()
        await release.wait()
        return .nothing
    }

    func failed(_ task: ClaimedTask, error: String, dead: Bool) -> (@Sendable (any StoreTransaction) async throws -> Void)? { nil }
}

extension QueueTests {
    @Test("a slow task keeps its lease: the worker extends every running task's lease each third of a lease", arguments: Backend.allCases)
    func leaseKept(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock(), handler = BlockingHandler()
            let start = clock.now()
            try await enqueue(store, "slow", at: start)
            let w = QueueWorker<any StoreTransaction>(config: queue, store: store.taskStore, handler: handler, clock: clock,
                                                      owner: "w1", leaseDuration: 30, logger: quietLogger)
            let stop = TestFlag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await w.run(stopping: { stop.isSet }, status: SchedulerStatus()) }
                await handler.started.wait()
                // Three rounds of the lease keeper, 10 s apart, carry the lease past its first 30 s.
                // The keeper goes back to sleep only after its round's extension committed.
                for round in 1...3 {
                    await clock.waitForSleeper(until: start.addingTimeInterval(Double(round) * 10))
                    clock.advance(to: start.addingTimeInterval(Double(round) * 10))
                }
                await clock.waitForSleeper(until: start.addingTimeInterval(40))
                let later = start.addingTimeInterval(35)
                #expect(try await store.claimTasks(queue: "q", limit: 1, owner: "w2", now: later, leaseDuration: 30).isEmpty,
                        "the lease was extended, so no other worker takes the running task")
                handler.release.signal()
                while try await store.task(named: "slow")?.state != .succeeded { await Task.yield() }
                stop.set()
                store.wakeups.wake(queues: ["q"])
                try await group.waitForAll()
            }
            #expect(try await store.task(named: "slow")?.attempts == 1)
        }
    }
}
