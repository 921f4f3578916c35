import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilServer
import VigilPostgres
import VigilSQLite
import VigilStore

@Suite("HTTP contract")
struct HTTPContractTests {
    static let orderBody = #"{"event":"order.created","orderId":"H1","customerEmail":"h@example.com","orderTotal":50.00,"paymentId":"ch_1"}"#

    func withApp(_ config: VigilConfig = VigilConfig(),
                 _ body: @escaping @Sendable (any TestClientProtocol, Harness) async throws -> Void) async throws {
        try await withSQLiteStore { store in
            let h = Harness(store: store, config: config)
            let app = Application(router: buildRouter(h.services))
            try await app.test(.router) { client in try await body(client, h) }
        }
    }

    static func signed(_ secret: String, _ body: String) -> String {
        WebhookSignature.sign(Data(body.utf8), secret: Secret(secret))
    }

    func post(_ client: any TestClientProtocol, _ path: String, _ body: String,
              headers extra: [(String, String)] = [], contentType: String? = "application/json") async throws -> TestResponse {
        var headers = HTTPFields()
        if let contentType { headers[.contentType] = contentType }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        return try await client.executeRequest(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let body = try json(response)
        #expect(body["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect(body["type"] is String && body["title"] is String && body["detail"] is String, sourceLocation: sourceLocation)
        #expect(body["requestId"] as? String == response.headers[HTTPField.Name("X-Request-ID")!], sourceLocation: sourceLocation)
    }

    @Test("order webhook: 202 with the session, then 200 idempotent on repeat")
    func orderWebhook() async throws {
        try await withApp { client, h in
            let first = try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody)
            #expect(first.status == .accepted)
            let session = try json(first)
            #expect(session["orderId"] as? String == "H1" && session["status"] as? String == "pending")
            #expect(session["deadline"] is String)
            let again = try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody)
            #expect(again.status == .ok)
            #expect(try json(again)["idempotent"] as? Bool == true)
            #expect(try await h.store.tasks(orderId: "H1").count == 4, "open the session, hold the order, reminder, deadline")
        }
    }

    @Test("signed webhooks: valid passes, bad or missing signature is 401, rotated secrets both pass")
    func signatures() async throws {
        var config = VigilConfig()
        config.lightspeedWebhookSecrets = [Secret("new"), Secret("old")]
        try await withApp(config) { client, _ in
            let path = "/api/v1/post-purchase/webhook"
            try expectProblem(try await post(client, path, Self.orderBody), .unauthorized)
            try expectProblem(try await post(client, path, Self.orderBody, headers: [("X-Signature", "deadbeef")]), .unauthorized)
            try expectProblem(try await post(client, path, Self.orderBody, headers: [("X-Signature", Self.signed("wrong", Self.orderBody))]), .unauthorized)
            let ok = try await post(client, path, Self.orderBody, headers: [("X-Signature", Self.signed("old", Self.orderBody))])
            #expect(ok.status == .accepted)
            let other = Self.orderBody.replacingOccurrences(of: "H1", with: "H2")
            #expect(try await post(client, path, other, headers: [("X-Signature", Self.signed("new", other))]).status == .accepted)
            // A validly signed empty body is authentic but malformed.
            try expectProblem(try await post(client, path, "", headers: [("X-Signature", Self.signed("new", ""))]), .badRequest)
        }
    }

    @Test("decision webhook accepts Veriff's headers and payload, and the short form")
    func decisionWebhook() async throws {
        var config = VigilConfig()
        config.veriffSharedSecrets = [Secret("vs")]
        try await withApp(config) { client, h in
            _ = try await h.flow.receiveOrder(h.order("H3"), payload: "{}")
            let veriff = #"{"status":"success","verification":{"id":"11111111-2222-3333-4444-555555555555","status":"resubmission_requested","code":9103,"vendorData":"H3"}}"#
            for header in ["X-HMAC-SIGNATURE", "VRF-HMAC-SIGNATURE"] {
                let r = try await post(client, "/api/v1/veriff/webhook", veriff, headers: [(header, Self.signed("vs", veriff))])
                #expect(r.status == (header == "X-HMAC-SIGNATURE" ? .accepted : .ok), "\(header)")
            }
            let short = #"{"event":"verification.updated","id":"evt_9","status":"approved","orderId":"H3","dateOfBirth":"1990-01-01"}"#
            let r = try await post(client, "/api/v1/veriff/webhook", short, headers: [("X-Signature", Self.signed("vs", short))])
            #expect(r.status == .accepted)
            #expect(try json(r)["status"] as? String == "approved")
            let repeatDelivery = try await post(client, "/api/v1/veriff/webhook", short, headers: [("X-Signature", Self.signed("vs", short))])
            #expect(repeatDelivery.status == .ok)
            #expect(try json(repeatDelivery)["idempotent"] as? Bool == true)
            try expectProblem(try await post(client, "/api/v1/veriff/webhook", short, headers: [("X-HMAC-SIGNATURE", "00")]), .unauthorized)
            let orphan = #"{"id":"evt_x","status":"approved","orderId":"nobody"}"#
            let o = try await post(client, "/api/v1/veriff/webhook", orphan, headers: [("X-Signature", Self.signed("vs", orphan))])
            #expect(o.status == .accepted)
            #expect(try json(o)["review"] as? Bool == true)
        }
    }

    @Test("415 for a non-JSON body, 413 over 1 MiB, 400 for malformed JSON, 404 and 405 as problems")
    func errors() async throws {
        try await withApp { client, _ in
            let path = "/api/v1/post-purchase/webhook"
            try expectProblem(try await post(client, path, Self.orderBody, contentType: "text/plain"), .unsupportedMediaType)
            try expectProblem(try await post(client, path, Self.orderBody, contentType: nil), .unsupportedMediaType)
            let huge = String(repeating: "x", count: (1 << 20) + 1)
            try expectProblem(try await post(client, path, huge), .contentTooLarge)
            let bad = try await post(client, path, #"{"event":"order.created","#)
            try expectProblem(bad, .badRequest)
            #expect(try (json(bad)["detail"] as? String)?.contains("JSON") == true)
            try expectProblem(try await post(client, path, #"{"event":"order.created","orderId":"x","customerEmail":"x","orderTotal":1}"#), .badRequest)
            try expectProblem(try await client.executeRequest(uri: "/nope", method: .get, headers: [:], body: nil), .notFound)
            let wrongMethod = try await client.executeRequest(uri: path, method: .get, headers: [:], body: nil)
            #expect(wrongMethod.status == .notFound || wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.headers[.contentType] == "application/problem+json")
        }
    }

    @Test("X-Request-ID: echoed when sane, generated otherwise, on every response")
    func requestId() async throws {
        try await withApp { client, _ in
            let echoed = try await client.executeRequest(uri: "/healthz", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "abc-123"], body: nil)
            #expect(echoed.headers[HTTPField.Name("X-Request-ID")!] == "abc-123")
            let forged = try await client.executeRequest(uri: "/healthz", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "a b\u{7f}"], body: nil)
            let generated = try #require(forged.headers[HTTPField.Name("X-Request-ID")!])
            #expect(generated != "a b\u{7f}" && generated.count == 36)
            #expect(echoed.headers[.xContentTypeOptions] == "nosniff")
        }
    }

    @Test("healthz, health (with ?check=db) and selftest report the subsystems")
    func health() async throws {
        try await withApp { client, h in
            let z = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(z.status == .ok)
            #expect(try json(z)["safeMode"] as? Bool == true)
            #expect(try json(z)["version"] as? String == VigilVersion.current)
            // The harness does not run the worker loops, so readiness says the scheduler is down.
            let down = try await client.executeRequest(uri: "/health?check=db", method: .get, headers: [:], body: nil)
            #expect(down.status == .serviceUnavailable)
            let body = try json(down)
            #expect(body["datastore"] as? String == "ok" && body["scheduler"] as? String == "fail")
            #expect(body["datastoreLatencyMs"] is Double || body["datastoreLatencyMs"] is Int)
            let selftest = try await client.executeRequest(uri: "/__selftest", method: .get, headers: [:], body: nil)
            #expect(selftest.status == .serviceUnavailable)
            let matrix = try json(selftest)
            for name in ["veriff", "sendgrid", "payments", "lightspeed"] { #expect(matrix[name] as? String == "safe_mode") }
            #expect(matrix["datastore"] as? String == "ok")
            #expect((matrix["warnings"] as? [String])?.contains { $0.contains("unsigned") } == true)
            _ = h
        }
    }

    @Test("admin order view: 401 without or with a wrong token, 404 unknown, 200 with tasks, timeline and outbox")
    func adminOrder() async throws {
        var config = VigilConfig()
        config.adminTokens = [Secret("t-new"), Secret("t-old")]
        try await withApp(config) { client, h in
            _ = try await h.flow.receiveOrder(h.order("H9"), payload: "{}")
            try await h.drain()
            let path = "/api/v1/orders/H9"
            try expectProblem(try await client.executeRequest(uri: path, method: .get, headers: [:], body: nil), .unauthorized)
            try expectProblem(try await client.executeRequest(uri: path, method: .get, headers: [.authorization: "Bearer nope"], body: nil), .unauthorized)
            try expectProblem(try await client.executeRequest(uri: "/api/v1/orders/none", method: .get, headers: [.authorization: "Bearer t-old"], body: nil), .notFound)
            let r = try await client.executeRequest(uri: path, method: .get, headers: [.authorization: "Bearer t-new"], body: nil)
            #expect(r.status == .ok)
            let body = try json(r)
            #expect(body["status"] as? String == "pending" && body["refundStatus"] as? String == "none")
            let tasks = try #require(body["tasks"] as? [[String: Any]])
            #expect(Set(tasks.compactMap { $0["name"] as? String }).count == tasks.count)
            #expect(tasks.allSatisfy { $0["queue"] is String && $0["state"] is String && $0["attempts"] is Int && $0["scheduledAt"] is String })
            let timeline = try #require(body["timeline"] as? [[String: Any]])
            #expect(timeline.first?["type"] as? String == "order.received")
            let outbox = try #require(body["outbox"] as? [[String: Any]])
            #expect(Set(outbox.compactMap { $0["operation"] as? String }) == ["create_session", "send_email", "update_order"],
                    "the session opened, the link emailed, the order held")
            #expect(outbox.allSatisfy { ($0["idempotencyKey"] as? String)?.hasPrefix("vigil_") == true && $0["provider"] is String && $0["at"] is String })
        }
    }

    @Test("admin API is off without a configured token")
    func adminDisabled() async throws {
        try await withApp { client, _ in
            let r = try await client.executeRequest(uri: "/api/v1/orders/x", method: .get, headers: [.authorization: "Bearer "], body: nil)
            try expectProblem(r, .unauthorized)
            #expect(try (json(r)["detail"] as? String)?.contains("VIGIL_ADMIN_TOKEN") == true)
        }
    }

    @Test("the same webhook sent 20 times at once opens one session with one set of tasks", arguments: Backend.allCases)
    func concurrentDuplicates(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            let app = Application(router: buildRouter(h.services), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            try await client.executeRequest(
                                uri: "/api/v1/post-purchase/webhook", method: .post,
                                headers: [.contentType: "application/json"], body: ByteBuffer(string: Self.orderBody)).status
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == .accepted }.count == 1)
                #expect(statuses.filter { $0 == .ok }.count == 19)
            }
            #expect(try await store.tasks(orderId: "H1").count == 4)
            #expect(try await store.eventLog(orderId: "H1").filter { $0.type == "session.created" }.count == 1)
        }
    }
}
