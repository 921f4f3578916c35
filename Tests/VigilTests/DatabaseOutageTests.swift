import AsyncHTTPClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("PostgreSQL outages", .serialized)
struct DatabaseOutageTests {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-outage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Polls `url` until it answers `status`, bounded; returns whether it did.
    func waitFor(_ url: String, status: UInt, within seconds: TimeInterval) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let r = try? await httpJSON(.GET, url), r.status == status { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test("an unreachable database at start is a one-line error and exit 1, not a hang")
    func unreachableAtStart() throws {
        let port = try freePort()
        let started = Date()
        let r = try runVigil(["serve"], env: [
            "VIGIL_DATABASE_URL": "postgres://vigil@127.0.0.1:\(port)/vigil?sslmode=disable",
            "VIGIL_DB_CONNECT_TIMEOUT": "2s", "VIGIL_ENV": "production", "VIGIL_PROVIDERS": "sandbox", "VIGIL_PUBLIC_URL": "https://verify.example.com",
            "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "a", "VIGIL_VERIFF_SHARED_SECRET": "b",
            "VIGIL_DATA_KEY": String(repeating: "k", count: 32),
        ])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("vigil:") }
        #expect(lines.count == 1)
        #expect(lines.first?.contains("cannot reach PostgreSQL at 127.0.0.1:\(port)") == true)
        #expect(Date().timeIntervalSince(started) < 30)
    }

    @Test("PostgreSQL stopped and started under a running service: /health goes 503 then 200, webhooks get 503 meanwhile, nothing accepted is lost")
    func restart() async throws {
        let cluster = try PrivateCluster()
        defer { cluster.destroy() }
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try ServeProcess(env: [
            "VIGIL_DATABASE_URL": cluster.url, "VIGIL_DB_CONNECT_TIMEOUT": "2s", "VIGIL_ADMIN_TOKEN": "admin",
            "VIGIL_LOG_LEVEL": "warning",
        ], directory: dir)
        try await serve.waitUntilReady()
        func order(_ id: String) -> String {
            #"{"event":"order.created","orderId":"\#(id)","customerEmail":"r@example.com","orderTotal":5}"#
        }
        let hook = serve.baseURL + "/api/v1/post-purchase/webhook"
        #expect(try await httpJSON(.POST, hook, body: order("R1")).status == 202)
        #expect(try await httpJSON(.GET, serve.baseURL + "/health").status == 200)

        try cluster.stop()
        #expect(await waitFor(serve.baseURL + "/health", status: 503, within: 20))
        let during = try await httpJSON(.POST, hook, body: order("R2"))
        #expect(during.status == 503)
        #expect(during.json["requestId"] is String && during.json["detail"] is String)
        #expect(try await httpJSON(.GET, serve.baseURL + "/healthz").status == 200, "liveness does not depend on the database")

        try cluster.start()
        #expect(await waitFor(serve.baseURL + "/health", status: 200, within: 30))
        #expect(try await httpJSON(.POST, hook, body: order("R1")).status == 200, "the order accepted before the outage is still there")
        #expect(try await httpJSON(.POST, hook, body: order("R2")).status == 202, "the sender's retry after the outage succeeds")
        for id in ["R1", "R2"] {
            let view = try await httpJSON(.GET, serve.baseURL + "/api/v1/orders/\(id)", headers: [("Authorization", "Bearer admin")])
            #expect(view.status == 200)
            #expect(view.json["status"] as? String == "pending")
        }
        serve.kill(SIGTERM)
        #expect(serve.process.terminationStatus == 0)
    }
}
