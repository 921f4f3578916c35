import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import HTTPTypes
import Testing
import VigilCore
import VigilProviders
import VigilPostgres
import VigilSQLite
import VigilStore

/// Header values by case-insensitive name.
struct Headers: Sendable {
    var fields: [String: String] = [:]
    subscript(name: String) -> String? {
        get { fields[name.lowercased()] }
        set { fields[name.lowercased()] = newValue }
    }
}

/// A request as a fake provider received it, for wire-format assertions.
struct ReceivedRequest: Sendable {
    var method: String
    var path: String
    var headers: Headers
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var form: [String: String] {
        Dictionary(text.split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }, uniquingKeysWith: { a, _ in a })
    }
}

/// What a fake provider answers.
struct FakeReply: Sendable {
    var status: Int
    var body: String
    var headers: [(String, String)] = []
    /// Wait this long before answering (a slow or hung provider).
    var delay: Duration?

    static func json(_ status: Int, _ body: String) -> FakeReply { FakeReply(status: status, body: body) }
}

/// A local HTTP server playing one or more providers: records every request and answers with
/// `respond`, which may keep its own state (a gateway's refunds, say).
final class FakeProvider: Sendable {
    private let received = Mutex<[ReceivedRequest]>([])
    let respond: @Sendable (ReceivedRequest) async -> FakeReply

    init(_ respond: @escaping @Sendable (ReceivedRequest) async -> FakeReply) {
        self.respond = respond
    }

    var requests: [ReceivedRequest] { received.withLock { $0 } }
    func received(at path: String) -> [ReceivedRequest] { requests.filter { $0.path == path } }

    func handle(_ request: Request) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        var headers = Headers()
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let recorded = ReceivedRequest(method: request.method.rawValue, path: request.uri.path, headers: headers,
                                       body: Data(buffer.readableBytesView))
        received.withLock { $0.append(recorded) }
        let reply = await respond(recorded)
        if let delay = reply.delay { try? await Task.sleep(for: delay) }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in reply.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
    }

    /// Runs the fake on a free loopback port; `body` gets its base URL.
    func run<T: Sendable>(_ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        for method in [HTTPRequest.Method.get, .post, .put, .delete] {
            router.on("**", method: method) { request, _ in try await self.handle(request) }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await body("http://127.0.0.1:\(port)")
        }
    }
}

/// A provider HTTP client for tests: zero backoff (full jitter drawn at 0), short timeout.
func withProviderClient<T>(clock: any VigilClock = SystemClock(), timeout: TimeInterval = 10, maxAttempts: Int = 3,
                           maxInCallWait: TimeInterval = 5, breakerThreshold: Int = 5, breakerCooldown: TimeInterval = 30,
                           _ body: (ProviderHTTPClient) async throws -> T) async throws -> T {
    let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
    let settings = ProviderHTTPSettings(
        timeout: timeout, retry: CallRetryPolicy(maxAttempts: maxAttempts, baseDelay: 0.01, maxDelay: 0.05, maxInCallWait: maxInCallWait),
        breakerThreshold: breakerThreshold, breakerCooldown: breakerCooldown)
    let client = ProviderHTTPClient(http: http, settings: settings, clock: clock, logger: quietLogger, random: { 0 })
    do {
        let result = try await body(client)
        try await http.shutdown()
        return result
    } catch {
        try? await http.shutdown()
        throw error
    }
}

/// Live settings pointing every provider at `base`.
func liveSettings(base: String, gateway: LiveProviderSettings.Gateway = .stripe(apiKey: Secret("sk_test_gateway"))) -> LiveProviderSettings {
    LiveProviderSettings(
        veriffBaseURL: base, veriffAPIKey: Secret("veriff-api-key"), veriffSigningSecret: Secret("veriff-shared"),
        veriffCallbackURL: "https://vigil.example.com/api/v1/veriff/webhook",
        sendgridBaseURL: base, sendgridAPIKey: Secret("SG.key"), emailFrom: "shop@example.com",
        emailTemplates: [.verificationLink: "d-link", .reminder: "d-reminder", .approved: "d-approved",
                         .declined: "d-declined", .expired: "d-expired"],
        paymentsBaseURL: base, gateway: gateway, lightspeedBaseURL: base,
        lightspeedCredentials: Secret("ls-key:ls-secret"), lightspeedHoldStatus: "on_hold", lightspeedReleaseStatus: "processing_awaiting_shipment")
}

let testCall = ProviderCall(orderId: "L1", taskId: 7, idempotencyKey: "vigil_0123456789abcdef0123")
