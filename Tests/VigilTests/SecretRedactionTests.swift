import AsyncHTTPClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Secrets never leak")
struct SecretRedactionTests {
    static let secrets = [
        "ls-SECRET-4f9a1c", "ls-OLD-SECRET-77b2", "vf-SECRET-0d3e5a", "admin-TOKEN-9c8b7a", "admin-OLD-TOKEN-1a2b",
        "veriff-APIKEY-55aa", "sendgrid-APIKEY-66bb", "payments-APIKEY-77cc", "lightspeed-TOKEN-88dd",
    ]

    @Test("configured secrets never appear in the logs (at trace level) or in any response, whatever the request")
    func noSecretInLogsOrResponses() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-redact-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = Self.secrets
        let serve = try ServeProcess(env: [
            "VIGIL_LOG_LEVEL": "trace", "VIGIL_LOG_FORMAT": "json",
            "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "\(s[0]),\(s[1])", "VIGIL_VERIFF_SHARED_SECRET": s[2],
            "VIGIL_ADMIN_TOKEN": "\(s[3]),\(s[4])", "VIGIL_VERIFF_API_KEY": s[5], "VIGIL_SENDGRID_API_KEY": s[6],
            "VIGIL_PAYMENTS_API_KEY": s[7], "VIGIL_LIGHTSPEED_API_TOKEN": s[8],
        ], directory: dir)
        try await serve.waitUntilReady()
        let base = serve.baseURL
        let order = #"{"event":"order.created","orderId":"S1","customerEmail":"s@example.com","orderTotal":5}"#
        let signature = WebhookSignatureForTests.sign(order, secret: s[1])
        var bodies: [String] = []
        func record(_ r: (status: UInt, text: String)) { bodies.append(r.text) }
        let json = [("Content-Type", "application/json")]
        record(try await httpText(.POST, base + "/api/v1/post-purchase/webhook", body: order, headers: json + [("X-Signature", signature)]))
        record(try await httpText(.POST, base + "/api/v1/post-purchase/webhook", body: order, headers: json + [("X-Signature", s[0])]))
        record(try await httpText(.POST, base + "/api/v1/veriff/webhook", body: #"{"status":"approved"}"#, headers: json + [("X-HMAC-SIGNATURE", s[2])]))
        record(try await httpText(.GET, base + "/api/v1/orders/S1", headers: [("Authorization", "Bearer \(s[3])")]))
        record(try await httpText(.GET, base + "/api/v1/orders/S1", headers: [("Authorization", "Bearer \(s[3])x")]))
        record(try await httpText(.GET, base + "/api/v1/audit", headers: [("Authorization", "Bearer \(s[4])")]))
        record(try await httpText(.GET, base + "/__selftest"))
        record(try await httpText(.GET, base + "/metrics"))
        record(try await httpText(.GET, base + "/health?check=db"))
        serve.kill(SIGTERM)

        let log = try String(contentsOf: serve.log, encoding: .utf8)
        #expect(log.contains("order received"), "the log was written")
        #expect(bodies.count == 9)
        for secret in s {
            #expect(!log.contains(secret), "\(secret) appears in the log")
            for body in bodies { #expect(!body.contains(secret), "\(secret) appears in a response") }
        }
    }

    @Test("a database password never appears in start-up errors")
    func noPasswordInErrors() throws {
        let port = try freePort()
        let r = try runVigil(["serve"], env: [
            "VIGIL_DATABASE_URL": "postgres://vigil:pg-PASSWORD-3e4f@127.0.0.1:\(port)/vigil?sslmode=disable",
            "VIGIL_DB_CONNECT_TIMEOUT": "1s", "VIGIL_LOG_LEVEL": "trace",
        ])
        #expect(r.status == 1)
        #expect(!r.stderr.contains("pg-PASSWORD-3e4f") && !r.stdout.contains("pg-PASSWORD-3e4f"))
    }
}

enum WebhookSignatureForTests {
    static func sign(_ body: String, secret: String) -> String {
        HTTPContractTests.signed(secret, body)
    }
}
