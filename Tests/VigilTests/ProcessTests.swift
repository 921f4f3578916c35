import AsyncHTTPClient
import Foundation
import Testing
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

@Suite("The vigil executable", .serialized)
struct ProcessTests {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("bad configuration exits 2 with one line naming the variable", arguments: [
        ("VIGIL_PORT", "abc"), ("VIGIL_VERIFICATION_DEADLINE", "later"), ("VIGIL_DATABASE_URL", "mongodb://x/y"),
    ])
    func badConfig(_ variable: String, _ value: String) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runVigil(["serve"], env: [variable: value], cwd: dir)
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains(variable) == true)
    }

    @Test("usage: --help exits 0 and lists the environment; an unknown command exits 2")
    func usage() throws {
        let help = try runVigil(["--help"], env: [:])
        #expect(help.status == 0)
        #expect(help.stdout.contains("VIGIL_DATABASE_URL") && help.stdout.contains("serve") && help.stdout.contains("migrate"))
        let serveHelp = try runVigil(["serve", "--help"], env: [:])
        #expect(serveHelp.status == 0 && serveHelp.stdout.contains("VIGIL_PORT"))
        #expect(try runVigil(["frobnicate"], env: [:]).status == 2)
        #expect(try runVigil(["migrate", "--bogus"], env: [:]).status == 2)
    }

    @Test("policy check: 0 and a summary for a good file; 2 and one line naming the entry for a bad one; serve refuses it too")
    func policyCheck() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.yaml"), bad = dir.appendingPathComponent("bad.yaml")
        try "minimumAge: 18\nregions:\n  - region: US\n    minimumAge: 21\n".write(to: good, atomically: true, encoding: .utf8)
        try "minimumAge: 18\nregions:\n  - region: US\n    minimumAge: old\n".write(to: bad, atomically: true, encoding: .utf8)
        let ok = try runVigil(["policy", "check", good.path], env: [:])
        #expect(ok.status == 0 && ok.stdout.contains("ok"))
        let refused = try runVigil(["policy", "check", bad.path], env: [:])
        #expect(refused.status == 2)
        #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stderr.contains("regions[0].minimumAge"))
        #expect(try runVigil(["policy", "check", dir.appendingPathComponent("missing.yaml").path], env: [:]).status == 2)
        let serve = try runVigil(["serve"], env: ["VIGIL_POLICY_FILE": bad.path], cwd: dir)
        #expect(serve.status == 2 && serve.stderr.contains("VIGIL_POLICY_FILE") && serve.stderr.contains("regions[0].minimumAge"))
        let both = try runVigil(["serve"], env: ["VIGIL_POLICY_FILE": good.path, "VIGIL_MINIMUM_AGE": "18"], cwd: dir)
        #expect(both.status == 2 && both.stderr.contains("VIGIL_MINIMUM_AGE"))
    }

    @Test("migrate --check exits 1 while migrations are pending and 0 after migrate")
    func migrateCheck() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["VIGIL_DATABASE_URL": "sqlite://\(dir.path)/v.sqlite"]
        let pending = try runVigil(["migrate", "--check"], env: env)
        #expect(pending.status == 1)
        #expect(pending.stdout.contains("pending: 1"))
        #expect(try runVigil(["migrate"], env: env).status == 0)
        #expect(try runVigil(["migrate", "--check"], env: env).status == 0)
        let selftest = try runVigil(["selftest"], env: env)
        #expect(selftest.status == 0)
        #expect(selftest.stdout.contains("datastore") && selftest.stdout.contains("safe_mode"))
    }

    @Test("crash test: SIGKILL between an order and its deadline; after restart it expires and refunds exactly once")
    func crashAndRecover() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = [
            "VIGIL_DATABASE_URL": "sqlite://\(dir.path)/vigil.sqlite",
            "VIGIL_VERIFICATION_DEADLINE": "3s", "VIGIL_REMINDER_AFTER": "1s",
            "VIGIL_ADMIN_TOKEN": "admin", "VIGIL_TASK_LEASE": "2s", "VIGIL_LOG_LEVEL": "info",
        ]
        let first = try ServeProcess(env: env, directory: dir)
        try await first.waitUntilReady()
        let order = #"{"event":"order.created","orderId":"K1","customerEmail":"k@example.com","orderTotal":42.5,"paymentId":"ch_k1"}"#
        let created = try await httpJSON(.POST, first.baseURL + "/api/v1/post-purchase/webhook", body: order)
        #expect(created.status == 202)
        // The 202 means committed: kill the process hard, before the deadline.
        first.kill(SIGKILL)
        #expect(first.process.terminationReason == .uncaughtSignal)

        let second = try ServeProcess(env: env, directory: dir)
        try await second.waitUntilReady()
        #expect(try await httpJSON(.POST, second.baseURL + "/api/v1/post-purchase/webhook", body: order).status == 200,
                "the webhook recorded before the crash is still known")
        var view: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            view = try await httpJSON(.GET, second.baseURL + "/api/v1/orders/K1", headers: [("Authorization", "Bearer admin")]).json
            if view["status"] as? String == "expired" && view["refundStatus"] as? String == "refunded" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(view["status"] as? String == "expired")
        #expect(view["refundStatus"] as? String == "refunded")
        let outbox = view["outbox"] as? [[String: Any]] ?? []
        #expect(outbox.filter { $0["operation"] as? String == "refund" }.count == 1)

        // Graceful stop: SIGTERM drains and exits 0.
        second.kill(SIGTERM)
        #expect(second.process.terminationReason == .exit)
        #expect(second.process.terminationStatus == 0)

        let export = try runVigil(["events", "export"], env: env)
        #expect(export.status == 0)
        let rows = export.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rows.contains { $0["type"] as? String == "session.expired" && $0["orderId"] as? String == "K1" })
        #expect(rows.filter { $0["type"] as? String == "refund.completed" }.count == 1)
        #expect(rows.allSatisfy { $0["id"] is Int && $0["at"] is String && $0["data"] is [String: Any] })
    }
}
