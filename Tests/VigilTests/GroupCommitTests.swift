import Foundation
import Synchronization
import Testing
import VigilCore
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

/// SQLite's group commit: concurrent transactions share one commit, each answered after it, and
/// one that fails is undone alone.
@Suite("SQLite group commit")
struct GroupCommitTests {
    /// A gate a transaction body waits at, so a test can queue others behind it.
    final class Gate: Sendable {
        private let opened = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
        func wait() async {
            await withCheckedContinuation { continuation in
                let pass = opened.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if pass { continuation.resume() }
            }
        }
        func open() {
            let waiters = opened.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    struct Refused: Error {}

    static func event(_ n: Int, failing: Bool = true) -> @Sendable (any StoreTransaction) async throws -> Int {
        { tx in
            try await tx.log(orderId: "o\(n)", type: "test", at: Date(), data: "{}")
            if failing, n % 5 == 0 { throw Refused() }
            return n
        }
    }

    @Test("a batch in which nothing fails commits once, each caller getting its own answer")
    func batchWithoutFailures() async throws {
        try await withSQLiteStore { (store: SQLiteStore) async throws in
            let gate = Gate(), started = Gate()
            let before = store.groupCommitStats
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                group.addTask {
                    let value = try await store.write { _ in
                        started.open()
                        await gate.wait()
                        return 0
                    }
                    return (0, value)
                }
                await started.wait()
                for n in 1...30 { group.addTask { (n, try await store.write(Self.event(n, failing: false))) } }
                while store.groupCommitStats.waiting < 30 { await Task.yield() }
                gate.open()
                for try await (n, value) in group { #expect(n == value) }
            }
            #expect(store.groupCommitStats.commits - before.commits == 2)
            for n in 1...30 { #expect(try await store.eventLog(orderId: "o\(n)").count == 1) }
        }
    }

    @Test("transactions queued behind a running commit share the next one; a failing one is undone alone")
    func batchesAndIsolates() async throws {
        try await withSQLiteStore { (store: SQLiteStore) async throws in
            let before = store.groupCommitStats
            let gate = Gate()
            let started = Gate()
            try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                group.addTask {
                    _ = try await store.write { tx in
                        try await tx.log(orderId: "first", type: "test", at: Date(), data: "{}")
                        started.open()
                        await gate.wait()
                        return 0
                    }
                    return (-1, true)
                }
                await started.wait()
                for n in 1...40 {
                    group.addTask {
                        do {
                            let value = try await store.write(Self.event(n))
                            return (value, true)
                        } catch is Refused {
                            return (n, false)
                        }
                    }
                }
                // Not a sleep: yields until all 40 are queued behind the gated leader.
                while store.groupCommitStats.waiting < 40 { await Task.yield() }
                gate.open()
                var outcomes: [Int: Bool] = [:]
                for try await (n, ok) in group { outcomes[n] = ok }
                for n in 1...40 { #expect(outcomes[n] == (n % 5 != 0), "order \(n)") }
            }
            let after = store.groupCommitStats
            #expect(after.commits - before.commits == 2, "the gated transaction, then one commit for the 40 behind it")
            #expect(after.transactions - before.transactions == 41)
            for n in 1...40 {
                let rows = try await store.eventLog(orderId: "o\(n)")
                #expect(rows.count == (n % 5 == 0 ? 0 : 1), "order \(n): a refused transaction leaves nothing")
            }
            #expect(try await store.eventLog(orderId: "first").count == 1)
        }
    }

    @Test("a queued transaction whose caller is cancelled is withdrawn and never runs")
    func cancelledWhileQueued() async throws {
        try await withSQLiteStore { (store: SQLiteStore) async throws in
            let gate = Gate()
            let started = Gate()
            let ran = Atomic<Bool>(false)
            let leader = Task {
                try await store.write { tx in
                    started.open()
                    await gate.wait()
                    try await tx.log(orderId: "leader", type: "test", at: Date(), data: "{}")
                    return 1
                }
            }
            await started.wait()
            let queued = Task {
                try await store.write { tx in
                    ran.store(true, ordering: .relaxed)
                    try await tx.log(orderId: "withdrawn", type: "test", at: Date(), data: "{}")
                    return 2
                }
            }
            while store.groupCommitStats.waiting < 1 { await Task.yield() }
            queued.cancel()
            await #expect(throws: CancellationError.self) { try await queued.value }
            gate.open()
            #expect(try await leader.value == 1)
            #expect(ran.load(ordering: .relaxed) == false)
            #expect(try await store.eventLog(orderId: "withdrawn").isEmpty)
            #expect(try await store.eventLog(orderId: "leader").count == 1)
            // The writer is free again: a later transaction commits on its own.
            #expect(try await store.write { _ in 3 } == 3)
        }
    }
}

/// Event-log rows are written at the end of their transaction, many to a statement; none is lost
/// or reordered, however many one transaction appends, and a rolled-back one leaves none.
@Suite("Deferred event-log rows on SQLite and PostgreSQL")
struct DeferredEventTests {
    struct Abandon: Error {}

    @Test("1,200 rows from one transaction arrive in order; an abandoned transaction writes none", arguments: Backend.allCases)
    func manyRowsInOrder(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.write { tx in
                for n in 0..<1_200 {
                    try await tx.log(orderId: "many", type: "test.\(n)", at: at, data: #"{"n":\#(n)}"#)
                }
            }
            let rows = try await store.eventLog(orderId: "many")
            #expect(rows.map(\.type) == (0..<1_200).map { "test.\($0)" })
            await #expect(throws: Abandon.self) {
                try await store.write { tx in
                    try await tx.log(orderId: "abandoned", type: "test", at: at, data: "{}")
                    throw Abandon()
                }
            }
            #expect(try await store.eventLog(orderId: "abandoned").isEmpty)
        }
    }
}

@Suite("Enqueueing several tasks in one statement on SQLite and PostgreSQL")
struct MultiEnqueueTests {
    @Test("new tasks are created, an existing name is reported as a duplicate, results in order", arguments: Backend.allCases)
    func createsAndReportsDuplicates(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            _ = try await store.write { tx in
                try await tx.enqueue(NewTask(name: "b", queue: "q", kind: "k", runAt: now), now: now)
            }
            let results = try await store.write { tx in
                try await tx.enqueue([
                    NewTask(name: "a", queue: "q", kind: "k", orderId: "o1", payload: #"{"x":1}"#, runAt: now),
                    NewTask(name: "b", queue: "q", kind: "other", runAt: now.addingTimeInterval(60)),
                    NewTask(name: "c", queue: "r", kind: "k", runAt: now.addingTimeInterval(3600)),
                ], now: now)
            }
            #expect(results == [true, false, true])
            let a = try #require(try await store.task(named: "a"))
            let b = try #require(try await store.task(named: "b"))
            let c = try #require(try await store.task(named: "c"))
            #expect(a.orderId == "o1" && a.payload.contains("\"x\"") && a.state == .scheduled)
            #expect(b.kind == "k", "the existing task is left unchanged")
            #expect(c.queue == "r" && c.scheduledAt == now.addingTimeInterval(3600))
            #expect(try await store.task(named: "c")?.id == c.id)
        }
    }
}

@Suite("Batched task completion on SQLite and PostgreSQL")
struct BatchedCompletionTests {
    struct Boom: Error {}

    static func stats(_ store: any Store) -> GroupCommitStats? {
        (store as? SQLiteStore)?.completionStats ?? (store as? PostgresStore)?.completionStats
    }

    @Test("completions arriving together commit in one batch; a lost lease and a failing outcome affect only their own task",
          arguments: Backend.allCases)
    func batch(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            _ = try await store.write { tx in
                try await tx.enqueue((0..<20).map { NewTask(name: "t\($0)", queue: "q", kind: "k", runAt: now) }, now: now)
            }
            var claimed = try await store.claimTasks(queue: "q", limit: 20, owner: "w", now: now, leaseDuration: 60)
            #expect(claimed.count == 20)
            claimed[1].leaseToken = "someone-else"  // this worker lost that task's lease
            let before = try #require(Self.stats(store))
            let (entered, enteredFirst) = AsyncStream<Void>.makeStream()
            let results = await withTaskGroup(of: (String, Result<Bool, any Error>).self) { group in
                func complete(_ index: Int) {
                    let claim = claimed[index], name = claim.task.name
                    group.addTask {
                        let outcome = TaskOutcome<any StoreTransaction>(record: { tx in
                            try await tx.log(orderId: nil, type: "recorded", at: now, data: JSONCoding.object(["name": name]))
                        }, apply: { tx in
                            if index == 0 {
                                // Hold the first batch open until the others queue behind it.
                                enteredFirst.yield()
                                while (Self.stats(store)?.waiting ?? 0) < 19 { await Task.yield() }
                            }
                            if name == "t2" { throw Boom() }
                            try await tx.log(orderId: nil, type: "applied", at: now, data: JSONCoding.object(["name": name]))
                        })
                        do {
                            return (name, .success(try await store.completeTask(claim, now: now, outcome: outcome)))
                        } catch {
                            return (name, .failure(error))
                        }
                    }
                }
                complete(0)
                for await _ in entered { break }
                for index in 1..<20 { complete(index) }
                var all: [String: Result<Bool, any Error>] = [:]
                for await (name, result) in group { all[name] = result }
                return all
            }
            #expect((try? results["t0"]?.get()) == true)
            #expect((try? results["t1"]?.get()) == false, "a lost lease is refused, not an error")
            #expect(throws: Boom.self) { try results["t2"]?.get() }
            for n in 3..<20 { #expect((try? results["t\(n)"]?.get()) == true, "t\(n)") }
            let states = try await store.tasks(queue: "q", state: nil, limit: 50)
            #expect(states.filter { $0.state == .succeeded }.count == 18)
            #expect(states.first { $0.name == "t1" }?.state == .running && states.first { $0.name == "t2" }?.state == .running)
            let log = try await store.eventLog(since: nil, until: nil, afterId: 0, limit: 100)
            let applied = Set(log.filter { $0.type == "applied" }.map(\.data))
            #expect(applied.count == 18 && !applied.contains(#"{"name":"t1"}"#) && !applied.contains(#"{"name":"t2"}"#))
            #expect(log.filter { $0.type == "recorded" }.count == 19, "a record is written even when the lease was lost")
            let after = try #require(Self.stats(store))
            #expect(after.transactions - before.transactions == 20)
            #expect(after.commits - before.commits == 2, "the first completion alone, then the nineteen that queued behind it")
        }
    }
}
