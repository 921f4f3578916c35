import Foundation
import HTTPTypes
import Hummingbird
import VigilCore
import VigilStore

/// What every admin route shares: bearer-token authorisation, the audit trail, `Idempotency-Key`
/// handling for mutating requests, and the query parameters they all read.
struct AdminAccess: Sendable {
    let services: AppServices
    var auditor: Auditor { Auditor(store: services.store, clock: services.clock) }

    /// Accepts any configured token, compared in constant time, and returns the caller's token
    /// id. With no token configured the admin API is off rather than open. Refusals are audited.
    func authorize(_ request: Request, context: VigilRequestContext, action: String, target: String?) async throws -> String {
        let tokens = services.config.adminTokens
        guard !tokens.isEmpty else {
            throw Problem.unauthorized("the admin API is disabled; set VIGIL_ADMIN_TOKEN to enable it")
        }
        // A source that keeps failing is refused before anything is checked or recorded.
        let now = services.clock.now()
        if let wait = services.authFailures.retryAfter(context.remoteAddress, now: now) {
            throw Problem.tooManyFailures(retryAfter: wait)
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            services.authFailures.recordFailure(context.remoteAddress, now: now)
            await auditor.record(action, actor: "anonymous", target: target, outcome: "rejected:no_token", request: request, context: context)
            throw Problem.unauthorized("send Authorization: Bearer <token>")
        }
        let presented = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let index = ConstantTime.match(presented, among: tokens) else {
            services.authFailures.recordFailure(context.remoteAddress, now: now)
            await auditor.record(action, actor: "unknown-token", target: target, outcome: "rejected:bad_token", request: request, context: context)
            throw Problem.unauthorized("the bearer token is not valid")
        }
        return "token:" + tokens[index].publicID
    }

    /// Authorises, audits the read as `ok`, and runs it against the datastore.
    func read<T: Encodable>(_ request: Request, context: VigilRequestContext, action: String, target: String? = nil,
                            _ body: () async throws -> T) async throws -> Response {
        let actor = try await authorize(request, context: context, action: action, target: target)
        await auditor.record(action, actor: actor, target: target, outcome: "ok", request: request, context: context)
        return try json(.ok, try await datastore(context.logger, body))
    }

    static let idempotencyKey = HTTPField.Name.literal("Idempotency-Key")

    /// Runs a mutating admin request at most once per `Idempotency-Key`: the first request with
    /// a key runs and its answer (success or client error) is stored; later ones get that answer
    /// replayed, concurrent ones a 409 while it runs. Without the header the request just runs.
    /// A datastore failure frees the key so the caller's retry can run.
    func idempotent<T: Encodable>(_ request: Request, context: VigilRequestContext, actor: String,
                                  _ body: () async throws -> T) async throws -> Response {
        let run = { () async throws -> (HTTPResponse.Status, String) in (.ok, try APIJSON.text(try await body())) }
        guard let key = request.headers[Self.idempotencyKey] else {
            let (status, text) = try await datastore(context.logger, run)
            return Self.response(status, text, replayed: false)
        }
        guard (1...255).contains(key.utf8.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
            throw Problem.badRequest("Idempotency-Key must be 1 to 255 printable ASCII characters")
        }
        let scope = "\(request.method) \(request.uri.path)"
        let store = services.store
        let claim = try await datastore(context.logger) {
            try await store.claimIdempotencyKey(key, scope: scope, actor: actor, now: services.clock.now())
        }
        switch claim {
        case .answered(let status, let text):
            return Self.response(HTTPResponse.Status(code: status), text, replayed: true)
        case .inProgress:
            throw Problem(.conflict, "idempotency-key-in-use", "Request in progress",
                          detail: "a request with this Idempotency-Key is still running; retry shortly for its answer")
        case .mismatch(let other):
            throw Problem(.unprocessableContent, "idempotency-key-reused", "Idempotency-Key reused",
                          detail: "this Idempotency-Key was used for \(other); use a new key for a different request")
        case .claimed:
            let status: HTTPResponse.Status, text: String
            do {
                (status, text) = try await datastore(context.logger, run)
            } catch let problem as Problem where problem.status.code < 500 {
                (status, text) = (problem.status, try problem.json(requestId: context.requestId))
            } catch {
                try? await store.releaseIdempotencyKey(key)
                throw error
            }
            try await datastore(context.logger) { try await store.answerIdempotencyKey(key, status: Int(status.code), body: text) }
            return Self.response(status, text, replayed: false)
        }
    }

    static func response(_ status: HTTPResponse.Status, _ text: String, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: status.code >= 400 ? "application/problem+json" : "application/json"]
        if replayed { headers[.literal("Idempotent-Replayed")] = "true" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A `since`/`until` query value: RFC 3339, a date, or a duration ago.
    static func time(_ text: String?, name: String, now: Date) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        guard let date = EventExport.time(text, now: now) else {
            throw Problem.badRequest("\(name) '\(text.prefix(64))' is not a time; \(EventExport.timeHelp)")
        }
        return date
    }

    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...1000).contains(n) else { throw Problem.badRequest("limit must be an integer from 1 to 1000") }
        return n
    }

    /// A query value that must be one of an enum's raw values; empty means unset.
    static func choice<E: RawRepresentable & CaseIterable>(_ text: String?, name: String) throws -> E? where E.RawValue == String {
        guard let text, !text.isEmpty else { return nil }
        guard let value = E(rawValue: text) else {
            throw Problem.badRequest("\(name) must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}
