import AsyncHTTPClient
import Foundation
import Testing
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

@Suite("Several instances on one PostgreSQL", .serialized)
struct MultiInstanceTests {
    @Test("two vigil serve processes share the work; one is SIGKILLed midway; every order ends exactly once and refunds exactly once")
    func twoInstancesOneKilled() async throws {
        let database = try await TestPostgres.createDatabase()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-multi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let env = [
            "VIGIL_DATABASE_URL": try TestPostgres.url(database: database),
            "VIGIL_VERIFICATION_DEADLINE": "4s", "VIGIL_REMINDER_AFTER": "2s",
            "VIGIL_TASK_LEASE": "2s", "VIGIL_DB_POOL_MAX": "8", "VIGIL_LOG_LEVEL": "warning",
        ]
        // Both start at once: migrations are serialised by the advisory lock.
        let a = try ServeProcess(env: env, directory: dir)
        let b = try ServeProcess(env: env, directory: dir)
        try await a.waitUntilReady()
        try await b.waitUntilReady()

        let orders = 300
        let approvedEvery = 3
        func orderBody(_ i: Int) -> String {
            #"{"event":"order.created","orderId":"M\#(i)","customerEmail":"m\#(i)@example.com","orderTotal":10,"paymentId":"ch_\#(i)"}"#
        }
        func decisionBody(_ i: Int) -> String {
            #"{"event":"verification.updated","id":"evt_M\#(i)","status":"approved","orderId":"M\#(i)","dateOfBirth":"1990-01-01"}"#
        }
        /// Sends like a shop platform would: to the given instance, retrying on the other if it is gone.
        let (urlA, urlB) = (a.baseURL, b.baseURL)
        @Sendable func deliver(_ path: String, _ body: String, preferA: Bool, aAlive: Bool) async throws -> UInt {
            let targets = preferA && aAlive ? [urlA, urlB] : [urlB]
            for target in targets {
                if let r = try? await httpJSON(.POST, target + path, body: body) { return r.status }
            }
            throw TestFailure(description: "no instance accepted \(path)")
        }

        var statuses: [UInt] = []
        try await withThrowingTaskGroup(of: UInt.self) { group in
            for i in 0..<orders {
                if i == orders / 2 {
                    // Drain what is in flight, then kill instance A without warning.
                    for try await s in group { statuses.append(s) }
                    a.kill(SIGKILL)
                }
                let aAlive = i < orders / 2
                group.addTask {
                    let s = try await deliver("/api/v1/post-purchase/webhook", orderBody(i), preferA: i % 2 == 0, aAlive: aAlive)
                    if i % approvedEvery == 0 {
                        _ = try await deliver("/api/v1/veriff/webhook", decisionBody(i), preferA: i % 2 == 1, aAlive: aAlive)
                    }
                    return s
                }
                if i % 16 == 15 { for _ in 0..<8 { if let s = try await group.next() { statuses.append(s) } } }
            }
            for try await s in group { statuses.append(s) }
        }
        #expect(statuses.count == orders)
        #expect(statuses.allSatisfy { $0 == 202 || $0 == 200 })

        // Wait (bounded) until every session has its outcome and every refund is made.
        let deadline = Date().addingTimeInterval(90)
        var summary: [String: String?] = [:]
        while Date() < deadline {
            summary = try await TestPostgres.query(database, """
                SELECT count(*)::text AS sessions,
                       count(*) FILTER (WHERE state = 'approved')::text AS approved,
                       count(*) FILTER (WHERE state = 'expired' AND refund_status = 'refunded')::text AS refunded,
                       (SELECT count(*) FROM tasks WHERE state IN ('scheduled', 'retrying', 'running') AND kind <> 'maintenance')::text AS active
                FROM sessions
                """).first ?? [:]
            let approved = Int((summary["approved"] ?? nil) ?? "") ?? 0
            let refunded = Int((summary["refunded"] ?? nil) ?? "") ?? 0
            if approved + refunded == orders && summary["active"] == "0" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let expectedApproved = (0..<orders).filter { $0 % approvedEvery == 0 }.count
        #expect(summary["sessions"] == "\(orders)")
        #expect(summary["approved"] == "\(expectedApproved)")
        #expect(summary["refunded"] == "\(orders - expectedApproved)")

        // Exactly one final outcome per order, and exactly one refund per expired order.
        let outcomes = try await TestPostgres.query(database, """
            SELECT order_id, count(*)::text AS n FROM events
            WHERE type IN ('session.approved', 'session.declined', 'session.expired')
            GROUP BY order_id HAVING count(*) <> 1
            """)
        #expect(outcomes.isEmpty, "orders with other than one outcome: \(outcomes.prefix(5))")
        let refunds = try await TestPostgres.query(database, """
            SELECT count(*)::text AS total, count(DISTINCT order_id)::text AS orders FROM outbox WHERE operation = 'refund'
            """).first ?? [:]
        #expect(refunds["total"] == "\(orders - expectedApproved)")
        #expect(refunds["orders"] == "\(orders - expectedApproved)")
        let releases = try await TestPostgres.query(database, """
            SELECT count(*)::text AS n FROM outbox WHERE operation = 'update_order' AND request->>'action' = 'release'
            """).first ?? [:]
        #expect(releases["n"] == "\(expectedApproved)")
        let leftovers = try await TestPostgres.query(database, """
            SELECT queue, kind, state, attempts::text AS attempts, lease_owner, (run_at - now())::text AS due_in, last_error
            FROM tasks WHERE state IN ('scheduled', 'retrying', 'running') AND kind <> 'maintenance' ORDER BY run_at LIMIT 5
            """)
        #expect(summary["active"] == "0", "every task has finished; left: \(leftovers)")
        let dead = try await TestPostgres.query(database, "SELECT count(*)::text AS n FROM tasks WHERE state = 'dead'").first ?? [:]
        #expect(dead["n"] == "0")
        let emails = try await TestPostgres.query(database, """
            SELECT count(*)::text AS n FROM outbox o JOIN tasks t ON t.id = o.task_id
            WHERE o.operation = 'send_email' AND t.payload->>'kind' IN ('approved', 'expired')
            """).first ?? [:]
        #expect(emails["n"] == "\(orders)", "one outcome email per order")

        b.kill(SIGTERM)
        #expect(b.process.terminationStatus == 0)
        await TestPostgres.dropDatabase(database)
    }
}
