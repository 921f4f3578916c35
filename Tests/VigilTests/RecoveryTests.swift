import Foundation
import Testing
import VigilCore
import VigilQueue
import VigilSQLite
import VigilStore
#if canImport(Glibc)
import Glibc
#endif

/// Recovery on SQLite: one `vigil serve` owns the file, and takes back at start what its dead
/// predecessor left running instead of waiting out the lease.
@Suite("Recovery", .serialized)
struct RecoveryTests {
    @Test("tasks left running are due again at once after reclaiming; finished and scheduled ones are untouched")
    func reclaim() async throws {
        try await withSQLiteStore { store in
            let clock = ManualClock()
            let now = clock.now()
            try await store.write { tx in
                _ = try await tx.enqueue([NewTask(name: "a", queue: "q", kind: "k", runAt: now),
                                          NewTask(name: "b", queue: "q", kind: "k", runAt: now),
                                          NewTask(name: "later", queue: "q", kind: "k", runAt: now.addingTimeInterval(3600))], now: now)
            }
            let claimed = try await store.claimTasks(queue: "q", limit: 2, owner: "dead", now: now, leaseDuration: 600)
            #expect(claimed.count == 2)
            #expect(try await store.claimTasks(queue: "q", limit: 10, owner: "new", now: now, leaseDuration: 8).isEmpty)
            #expect(try await store.reclaimRunningTasks(now: now) == 2)
            let again = try await store.claimTasks(queue: "q", limit: 10, owner: "new", now: now, leaseDuration: 8)
            #expect(Set(again.map(\.task.name)) == ["a", "b"], "no lease to wait out")
            #expect(try await store.task(named: "later")?.state == .scheduled)
            let late = try await store.completeTask(claimed[0], now: now, outcome: TaskOutcome { _ in })
            #expect(!late, "the dead process's lease is void")
        }
    }

    @Test("a second vigil serve on the same SQLite file is refused with a clear message; after a kill -9 the next one starts")
    func oneServePerFile() async throws {
        let dir = try temporaryFolder("vigil-recovery")
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["VIGIL_DATABASE_URL": "sqlite://\(dir.path)/vigil.sqlite"]
        let first = try ServeProcess(env: env, directory: dir)
        try await first.waitUntilReady()
        let second = try ServeProcess(env: env, directory: dir)
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 1)
        let message = try String(contentsOf: second.log, encoding: .utf8)
        #expect(message.contains("another vigil serve (pid \(first.process.processIdentifier)) is using"), "\(message)")
        first.kill(SIGKILL)
        let third = try ServeProcess(env: env, directory: dir)
        try await third.waitUntilReady()
        third.kill(SIGTERM)
        #expect(third.process.terminationStatus == 0)
    }
}

extension RecoveryTests {
    @Test("vigil backup: an online copy that opens as a current database with every row; it never overwrites; PostgreSQL is pointed to pg_dump")
    func backup() async throws {
        let dir = try temporaryFolder("vigil-backup")
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["VIGIL_DATABASE_URL": "sqlite://\(dir.path)/vigil.sqlite", "VIGIL_ADMIN_TOKEN": "admin"]
        let serve = try ServeProcess(env: env, directory: dir)
        try await serve.waitUntilReady()
        for i in 0..<20 {
            let order = #"{"event":"order.created","orderId":"B\#(i)","customerEmail":"b\#(i)@example.com","orderTotal":5,"paymentId":"ch_\#(i)"}"#
            #expect(try await httpJSON(.POST, serve.baseURL + "/api/v1/post-purchase/webhook", body: order).status == 202)
        }
        // While it serves.
        let copy = dir.appendingPathComponent("copy.sqlite").path
        let made = try runVigil(["backup", copy], env: env)
        #expect(made.status == 0, "\(made.stderr)")
        let again = try runVigil(["backup", copy], env: env)
        #expect(again.status == 1 && again.stderr.contains("never overwrites"))
        serve.kill(SIGTERM)

        // Export and erasure from the command line (the same code as the admin API's).
        let export = try runVigil(["export", "--email", "B0@example.com"], env: env)
        #expect(export.status == 0 && export.stdout.contains(#""orderId":"B0""#) && !export.stdout.contains("B1"))
        let erase = try runVigil(["erase", "--order", "B0"], env: env)
        #expect(erase.status == 0 && erase.stdout.contains(#""pending":["B0"]"#), "\(erase.stdout)")

        let restored = try await SQLiteStore.open(path: copy)
        #expect(try await restored.migrationStatus().pending.isEmpty)
        let sessions = try await restored.sessions(state: nil, since: nil, until: nil, after: nil, limit: 100)
        #expect(sessions.count == 20)
        #expect(try await restored.tasks(orderId: "B0").isEmpty == false)
        try await restored.close()

        let pg = try runVigil(["backup", dir.appendingPathComponent("x").path], env: ["VIGIL_DATABASE_URL": "postgres://u@127.0.0.1:1/db"])
        #expect(pg.status == 2 && pg.stderr.contains("pg_dump"))
    }

    @Test("PostgreSQL: pg_dump restored into an empty database serves as it was: current schema, sealed data opens, a deadline already past runs at once and refunds once")
    func postgresDumpAndRestore() async throws {
        guard let bin = ProcessInfo.processInfo.environment["VIGIL_TEST_PG_BIN"] else {
            throw TestFailure(description: "VIGIL_TEST_PG_BIN is not set: run the tests with scripts/test.sh")
        }
        let l = try TestPostgres.location()
        @Sendable func url(_ database: String) -> String { "postgresql://\(l.user)@\(l.host):\(l.port)/\(database)?sslmode=disable" }
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID().uuidString).dump").path
        defer { try? FileManager.default.removeItem(atPath: dump) }
        let clock = ManualClock()
        try await withStoreLocation(.postgres) { location in
            guard case .postgres(let source) = location else { return }
            try await withStore(at: location, cipher: .development) { store in
                let h = Harness(store: store, clock: clock)
                _ = try await h.flow.receiveOrder(h.order("P1", total: 30), payload: #"{"customerEmail":"P1@example.com"}"#)
                try await h.drain()
            }
            try PrivateCluster.shell(["\(bin)/pg_dump", "--format=custom", "--file", dump, url(source)])
        }
        try await withPostgresDatabase { target in
            try PrivateCluster.shell(["\(bin)/pg_restore", "--no-owner", "--dbname", url(target), dump])
            try await withStore(at: .postgres(database: target), cipher: .development, migrate: false) { store in
                #expect(try await store.migrationStatus().pending.isEmpty, "the copy's schema is current as restored")
                let raw = try await EncryptionAtRestTests.rawText(store, "SELECT customer_email AS v FROM sessions WHERE order_id = 'P1'")
                #expect(raw.count == 1 && raw[0].hasPrefix("enc:v1:"), "restored sealed, as it was")
                #expect(try await store.session(orderId: "P1")?.customerEmail == "P1@example.com")
                let h = Harness(store: store, clock: clock)
                clock.advance(by: 73 * 3600)  // the copy sat unused past the deadline
                try await h.drain()
                let session = try #require(try await store.session(orderId: "P1"))
                #expect(session.state == .expired && session.refundStatus == .refunded)
                let refunds = try await h.outbox("P1").filter { $0.operation == .refund }
                #expect(refunds.count == 1)
            }
        }
    }
}
