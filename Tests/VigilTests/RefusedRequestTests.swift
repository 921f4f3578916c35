import Foundation
import Testing
import VigilCore
@testable import VigilServer
import VigilStore

/// What an unauthenticated or unusual request may cost and get, over a real socket.
@Suite("Refused and unusual requests")
struct RefusedRequestTests {
    static func config(limit: Int = 3) -> VigilConfig {
        var config = VigilConfig()
        config.adminTokens = [Secret("admin-token")]
        config.lightspeedWebhookSecrets = [Secret("ls")]
        config.authFailureLimit = limit
        return config
    }

    @Test("failed token and signature checks from one address get 429 with Retry-After past the limit, unaudited, until the minute ends",
          arguments: Backend.allCases)
    func failedChecksAreRateLimited(_ backend: Backend) async throws {
        try await withListeningServer(Self.config(limit: 3), backend: backend) { port, h in
            try await RawConnection.with(port: port) { c in
                for _ in 0..<2 {
                    #expect(try await c.request("GET", "/api/v1/tasks", headers: [("Authorization", "Bearer wrong")]).status == 401)
                }
                let unsigned = try await c.request("POST", "/api/v1/post-purchase/webhook", headers: [("Content-Type", "application/json"), ("X-Signature", "00")], body: "{}")
                #expect(unsigned.status == 401)
                let limited = try await c.request("GET", "/api/v1/tasks", headers: [("Authorization", "Bearer wrong")])
                #expect(limited.status == 429)
                #expect(limited.header("Retry-After") == "60")
                #expect(limited.text.contains("urn:vigil:problem:too-many-failures"))
                // Even the right token waits: the address is refused before anything is checked.
                #expect(try await c.request("GET", "/api/v1/tasks", headers: [("Authorization", "Bearer admin-token")]).status == 429)
                let webhook = try await c.request("POST", "/api/v1/post-purchase/webhook", headers: [("Content-Type", "application/json"), ("X-Signature", "00")], body: "{}")
                #expect(webhook.status == 429)
                #expect(try await h.store.audit(limit: 50).count == 3, "only the three refusals before the limit are audited")
                h.clock.advance(by: 61)
                #expect(try await c.request("GET", "/api/v1/tasks", headers: [("Authorization", "Bearer admin-token")]).status == 200)
            }
        }
    }

    @Test("the table of failing addresses is bounded: a new address evicts the oldest")
    func limiterIsBounded() {
        let limiter = FailedAuthLimiter(limit: 1, capacity: 3)
        let now = Date(timeIntervalSince1970: 1_000_000)
        for address in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] { limiter.recordFailure(address, now: now) }
        #expect(limiter.tracked == 3)
        #expect(limiter.retryAfter("10.0.0.1", now: now) == nil, "the oldest was evicted")
        #expect(limiter.retryAfter("10.0.0.4", now: now) == 60)
        #expect(limiter.retryAfter("10.0.0.4", now: now.addingTimeInterval(60)) == nil, "the window ended")
        for i in 0..<10_000 { limiter.recordFailure("10.1.\(i / 256).\(i % 256)", now: now) }
        #expect(limiter.tracked == 3)
    }

    @Test("a refused request's long path is cut in its audit row and its problem body", arguments: Backend.allCases)
    func longPathsAreCut(_ backend: Backend) async throws {
        try await withListeningServer(Self.config(limit: 100), backend: backend) { port, h in
            let long = String(repeating: "x", count: 20_000)
            try await RawConnection.with(port: port) { c in
                #expect(try await c.request("GET", "/api/v1/orders/\(long)").status == 401)
                let missing = try await c.request("GET", "/\(long)")
                #expect(missing.status == 404)
                #expect(missing.body.count < 1024)
            }
            let row = try #require(try await h.store.audit(limit: 1).first)
            #expect((row.target?.utf8.count ?? 0) <= 256)
        }
    }

    @Test("HEAD on a GET route answers like GET without a body, on a connection that stays usable")
    func head() async throws {
        try await withListeningServer(Self.config()) { port, _ in
            try await RawConnection.with(port: port) { c in
                let get = try await c.request("GET", "/healthz")
                let head = try await c.request("HEAD", "/healthz")
                #expect(head.status == 200)
                #expect(head.header("Content-Type") == get.header("Content-Type"))
                #expect(head.header("Content-Length") == "\(get.body.count)")
                #expect(head.body.isEmpty)
                let unknown = try await c.request("HEAD", "/api/v1/orders/none", headers: [("Authorization", "Bearer admin-token")])
                #expect(unknown.status == 404)
                #expect(try await c.request("GET", "/openapi.yaml").status == 200, "no stray body bytes were left on the connection")
            }
        }
    }

    @Test("path parameters are percent-decoded: an order with a non-ASCII id can be looked up", arguments: Backend.allCases)
    func percentDecodedOrderId(_ backend: Backend) async throws {
        try await withListeningServer(Self.config(), backend: backend) { port, h in
            _ = try await h.flow.receiveOrder(h.order("Bé-1 #2"), payload: "{}")
            try await RawConnection.with(port: port) { c in
                let found = try await c.request("GET", "/api/v1/orders/B%C3%A9-1%20%232", headers: [("Authorization", "Bearer admin-token")])
                #expect(found.status == 200)
                let body = try #require(try JSONSerialization.jsonObject(with: Data(found.body)) as? [String: Any])
                #expect(body["orderId"] as? String == "Bé-1 #2")
                let broken = try await c.request("GET", "/api/v1/orders/%FF", headers: [("Authorization", "Bearer admin-token")])
                #expect(broken.status == 400)
            }
        }
    }
}
