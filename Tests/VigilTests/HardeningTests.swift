import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilServer

/// Security headers and CORS, reusing the HTTP contract suite's helpers.
extension HTTPContractTests {
    @Test("security headers on every response; HSTS behind a TLS proxy only")
    func securityHeaders() async throws {
        try await withApp { client, _ in
            let plain = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(plain.headers[.xContentTypeOptions] == "nosniff")
            #expect(plain.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(plain.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            #expect(plain.headers[.strictTransportSecurity] == nil)
            let proxied = try await client.executeRequest(
                uri: "/nowhere", method: .get, headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"], body: nil)
            #expect(proxied.status == .notFound)
            #expect(proxied.headers[.strictTransportSecurity]?.hasPrefix("max-age=") == true)
        }
    }

    @Test("CORS is off by default and answers only the configured origins")
    func cors() async throws {
        try await withApp { client, _ in
            let r = try await client.executeRequest(uri: "/healthz", method: .get, headers: [.origin: "https://evil.example"], body: nil)
            #expect(r.headers[.accessControlAllowOrigin] == nil)
        }
        var config = VigilConfig()
        config.corsOrigins = ["https://admin.example.com"]
        try await withApp(config) { client, _ in
            let allowed = try await client.executeRequest(
                uri: "/healthz", method: .get, headers: [.origin: "https://admin.example.com"], body: nil)
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://admin.example.com")
            #expect(allowed.headers[.vary] == "Origin")
            let other = try await client.executeRequest(uri: "/healthz", method: .get, headers: [.origin: "https://evil.example"], body: nil)
            #expect(other.headers[.accessControlAllowOrigin] == nil)
            let preflight = try await client.executeRequest(
                uri: "/api/v1/tasks", method: .options,
                headers: [.origin: "https://admin.example.com", .accessControlRequestMethod: "GET"], body: nil)
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
        }
    }

    @Test("a webhook stuck behind a long write is answered 503 at its timeout and commits nothing")
    func webhookTimeout() async throws {
        var config = VigilConfig()
        config.webhookTimeout = 0.3
        try await withApp(config) { client, h in
            let (inside, enteredLock) = AsyncStream<Void>.makeStream()
            let (release, releaseLock) = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Another writer holds SQLite's single write lock until told to let go.
                group.addTask {
                    try await h.store.write { _ in
                        enteredLock.yield()
                        for await _ in release { break }
                    }
                }
                for await _ in inside { break }
                let stuck = try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody)
                try expectProblem(stuck, .serviceUnavailable)
                #expect(try json(stuck)["type"] as? String == "urn:vigil:problem:timeout")
                releaseLock.yield()
                try await group.waitForAll()
            }
            // Checked in the store rather than by an HTTP retry, which under a loaded machine could
            // itself outlast this test's deliberately tiny timeout.
            #expect(try await h.store.session(orderId: "H1") == nil, "the timed-out delivery committed nothing")
            #expect(try await h.store.tasks(queue: nil, state: nil, limit: 10).isEmpty)
        }
    }

    @Test("a signed webhook dated beyond the accepted age is refused as a replay; a fresh one is accepted")
    func staleWebhook() async throws {
        var config = VigilConfig()
        config.lightspeedWebhookSecrets = [Secret("ls")]
        try await withApp(config) { client, h in
            func order(_ id: String, sentAt: Date) -> String {
                #"{"event":"order.created","orderId":"\#(id)","customerEmail":"r@example.com","orderTotal":5,"timestamp":"\#(Timestamp.string(sentAt))"}"#
            }
            let old = order("R-old", sentAt: h.clock.now().addingTimeInterval(-8 * 86400))
            let refused = try await post(client, "/api/v1/post-purchase/webhook", old, headers: [("X-Signature", Self.signed("ls", old))])
            try expectProblem(refused, .badRequest)
            #expect(try json(refused)["type"] as? String == "urn:vigil:problem:stale-webhook")
            #expect(try await h.store.session(orderId: "R-old") == nil)
            #expect(try await h.store.audit(limit: 5).contains { $0.outcome == "rejected:stale" })
            let fresh = order("R-new", sentAt: h.clock.now().addingTimeInterval(-60))
            #expect(try await post(client, "/api/v1/post-purchase/webhook", fresh, headers: [("X-Signature", Self.signed("ls", fresh))]).status == .accepted)
        }
    }
}
