import Foundation
import Synchronization
import Testing
import VigilCore
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

/// What only PostgreSQL has to prove: several instances on one database.
@Suite("PostgreSQL: several instances on one database")
struct PostgresStoreTests {
    @Test("instances migrating at once: one applies the migrations, the others find nothing to do")
    func concurrentMigrations() async throws {
        try await withPostgresDatabase { database in
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await withRunningPostgresStore(database: database, poolMax: 2) { try await $0.migrate() }
                    }
                }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            #expect(applied.filter { !$0.isEmpty }.count == 1)
            #expect(applied.flatMap { $0 }.sorted() == applied.first { !$0.isEmpty })
            let rows = try await TestPostgres.query(database, "SELECT count(*)::text AS n FROM schema_migrations")
            #expect(rows.first?["n"] == .some("\(applied.flatMap { $0 }.count)"))
            try await withRunningPostgresStore(database: database) { store in
                let status = try await store.migrationStatus()
                #expect(status.pending.isEmpty && status.unknown.isEmpty)
            }
        }
    }

    @Test("two instances claiming the same queue at once never claim a task twice")
    func concurrentClaims() async throws {
        try await withPostgresDatabase { database in
            let now = Date()
            let total = 300
            try await withRunningPostgresStore(database: database) { store in
                _ = try await store.migrate()
                try await store.write { tx in
                    for i in 0..<total {
                        _ = try await tx.enqueue(NewTask(name: "t\(i)", queue: "q", kind: "k", runAt: now), now: now)
                    }
                }
            }
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for instance in ["a", "b"] {
                    group.addTask {
                        try await withRunningPostgresStore(database: database) { store in
                            try await withThrowingTaskGroup(of: [Int64].self) { workers in
                                for w in 0..<3 {
                                    workers.addTask {
                                        var ids: [Int64] = []
                                        while true {
                                            let batch = try await store.claimTasks(
                                                queue: "q", limit: 7, owner: "\(instance)\(w)", now: now, leaseDuration: 600)
                                            if batch.isEmpty { return ids }
                                            ids += batch.map(\.task.id)
                                        }
                                    }
                                }
                                return try await workers.reduce(into: []) { $0 += $1 }
                            }
                        }
                    }
                }
                return try await group.reduce(into: [[Int64]]()) { $0.append($1) }
            }
            let all = claimed.flatMap { $0 }
            #expect(all.count == total, "every task claimed once")
            #expect(Set(all).count == total, "no task claimed twice")
            #expect(claimed.allSatisfy { !$0.isEmpty }, "both instances took part")
        }
    }

    @Test("a commit on one instance wakes the sleeping worker of another (LISTEN/NOTIFY)")
    func notifyWakesOtherInstance() async throws {
        try await withPostgresDatabase { database in
            try await withRunningPostgresStore(database: database) { a in
                _ = try await a.migrate()
                let b = PostgresStore(settings: try TestPostgres.settings(database: database), logger: quietLogger)
                // B wakes every known queue once its LISTEN is in place: taking the signal before
                // B starts and waiting for that first wake-up means the next can only be A's NOTIFY.
                let signal = b.wakeups.signal(for: "mail")
                try await withRunning(b) {
                    await signal.wait()
                    let now = Date()
                    try await a.write { tx in
                        _ = try await tx.enqueue(NewTask(name: "n1", queue: "mail", kind: "k", runAt: now), now: now)
                    }
                    let woken = try await firstOf(seconds: 20) { await signal.wait(); return true } orElse: { false }
                    #expect(woken, "instance B was not woken by instance A's commit")
                }
            }
        }
    }
}

extension PostgresStoreTests {
    @Test("the pool's use is reported for metrics: a transaction holds one connection while it runs")
    func connectionUse() async throws {
        try await withPostgresDatabase { database in
            try await withRunningPostgresStore(database: database) { store in
                #expect(store.connectionUse == ConnectionUse(inUse: 0, waiting: 0, max: 4))
                let inside = try await store.write { _ in store.connectionUse }
                #expect(inside == ConnectionUse(inUse: 1, waiting: 0, max: 4))
                #expect(store.connectionUse?.inUse == 0)
            }
        }
    }
}

/// `body`'s value, or `fallback()` if it has not answered within `seconds` — a bound on a test
/// that would otherwise hang, not a synchronisation.
func firstOf<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T,
                          orElse fallback: @escaping @Sendable () -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask(operation: body)
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return fallback()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { return fallback() }
        return first
    }
}
