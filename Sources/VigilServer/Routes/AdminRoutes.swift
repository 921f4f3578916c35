import Foundation
import HTTPTypes
import Hummingbird
import VigilCore
import VigilQueue
import VigilStore

/// The operator's API, behind bearer tokens. Every request, allowed or refused, is audited.
struct AdminRoutes {
    let services: AppServices
    var auditor: Auditor { Auditor(store: services.store, clock: services.clock) }

    func register(on router: RouteTable) {
        router.timeout = RequestTimeout(seconds: services.config.adminTimeout, what: "admin request")
        defer { router.timeout = nil }
        router.get("/api/v1/orders/:orderId") { request, context in
            let orderId = try context.parameters.require("orderId")
            let actor = try await authorize(request, context: context, action: "order.read", target: orderId)
            await auditor.record("order.read", actor: actor, target: orderId, outcome: "ok", request: request, context: context)
            return try await datastore(context.logger) { try await order(orderId) }
        }
        router.get("/api/v1/orders") { request, context in
            let actor = try await authorize(request, context: context, action: "orders.list", target: nil)
            let query = request.uri.queryParameters
            let state = try query.get("status").flatMap { $0.isEmpty ? nil : $0 }.map { text in
                guard let state = SessionState(rawValue: text) else {
                    throw Problem.badRequest("status must be one of \(SessionState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return state
            }
            let now = services.clock.now()
            let since = try Self.time(query.get("since"), name: "since", now: now)
            let until = try Self.time(query.get("until"), name: "until", now: now)
            let cursor = try query.get("cursor").flatMap { $0.isEmpty ? nil : $0 }.map { text in
                guard let cursor = OrderCursor.decode(text) else { throw Problem.badRequest("cursor is not one this API returned") }
                return cursor
            }
            let limit = try Self.limit(query.get("limit"))
            await auditor.record("orders.list", actor: actor, target: nil, outcome: "ok", request: request, context: context)
            let page = try await datastore(context.logger) {
                try await services.store.sessions(state: state, since: since, until: until, after: cursor, limit: limit)
            }
            var body: [String: Any] = ["orders": page.map(SessionJSON.summary)]
            if page.count == limit, let last = page.last {
                body["nextCursor"] = OrderCursor.encode(SessionCursor(createdAt: last.createdAt, orderId: last.orderId))
            }
            return json(.ok, body)
        }
        router.get("/api/v1/tasks") { request, context in
            let actor = try await authorize(request, context: context, action: "tasks.list", target: nil)
            let query = request.uri.queryParameters
            let state = try query.get("state").map { text in
                guard let state = TaskState(rawValue: text) else {
                    throw Problem.badRequest("state must be one of \(TaskState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return state
            }
            let queue = query.get("queue").flatMap { $0.isEmpty ? nil : $0 }
            let limit = try Self.limit(query.get("limit"))
            await auditor.record("tasks.list", actor: actor, target: nil, outcome: "ok", request: request, context: context)
            let tasks = try await datastore(context.logger) { try await services.store.tasks(queue: queue, state: state, limit: limit) }
            return json(.ok, ["tasks": tasks.map(TaskJSON.object)])
        }
        router.post("/api/v1/tasks/:id/retry") { request, context in
            let id = try Self.taskId(context)
            let actor = try await authorize(request, context: context, action: "task.retry", target: "\(id)")
            return try await idempotent(request, context: context, actor: actor) {
                guard let task = try await services.store.task(id: id) else {
                    await auditor.record("task.retry", actor: actor, target: "\(id)", outcome: "not_found", request: request, context: context)
                    throw Problem.notFound("no task \(id)")
                }
                guard try await services.store.retryDeadTask(id: id, now: services.clock.now()) else {
                    await auditor.record("task.retry", actor: actor, target: "\(id)", outcome: "refused:\(task.state.rawValue)",
                                         request: request, context: context)
                    throw Problem(.conflict, "conflict", "Conflict",
                                  detail: "task \(id) is \(task.state.rawValue); only dead tasks can be re-driven")
                }
                await auditor.record("task.retry", actor: actor, target: "\(id)", outcome: "retried", request: request, context: context)
                let after = try await services.store.task(id: id)
                return (.ok, JSONCoding.objectAny(["retried": true, "task": after.map(TaskJSON.object) as Any]))
            }
        }
        router.delete("/api/v1/tasks/:id") { request, context in
            let id = try Self.taskId(context)
            let actor = try await authorize(request, context: context, action: "task.cancel", target: "\(id)")
            return try await idempotent(request, context: context, actor: actor) {
                guard try await services.store.task(id: id) != nil else {
                    await auditor.record("task.cancel", actor: actor, target: "\(id)", outcome: "not_found", request: request, context: context)
                    throw Problem.notFound("no task \(id)")
                }
                // Cancelling a finished task is not an error: the answer says it was not cancelled now.
                let cancelled = try await services.store.cancelTask(id: id, now: services.clock.now())
                await auditor.record("task.cancel", actor: actor, target: "\(id)", outcome: cancelled ? "cancelled" : "already_finished",
                                     request: request, context: context)
                let after = try await services.store.task(id: id)
                return (.ok, JSONCoding.objectAny(["cancelled": cancelled, "task": after.map(TaskJSON.object) as Any]))
            }
        }
        router.get("/api/v1/events") { request, context in
            let actor = try await authorize(request, context: context, action: "events.export", target: nil)
            let query = request.uri.queryParameters
            let now = services.clock.now()
            let since = try Self.time(query.get("since"), name: "since", now: now)
            let until = try Self.time(query.get("until"), name: "until", now: now)
            await auditor.record("events.export", actor: actor, target: nil, outcome: "ok", request: request, context: context)
            // Reach the store once before the 200 goes out, so an outage is still a 503 problem.
            try await datastore(context.logger) { try await services.store.ping() }
            let store = services.store
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody { writer in
                try await EventExport.forEachPage(store, since: since, until: until) { try await writer.write(ByteBuffer(string: $0)) }
                try await writer.finish(nil)
            })
        }
        list(on: router, "/api/v1/reviews", action: "reviews.list", key: "reviews", render: ReviewJSON.object) {
            try await services.store.reviews(limit: $0)
        }
        list(on: router, "/api/v1/audit", action: "audit.list", key: "audit", render: AuditJSON.object) {
            try await services.store.audit(limit: $0)
        }
    }

    /// A read-only, audited listing with `?limit=`.
    func list<Row: Sendable>(on router: RouteTable, _ path: String, action: String, key: String,
                             render: @escaping @Sendable (Row) -> [String: Any],
                             fetch: @escaping @Sendable (Int) async throws -> [Row]) {
        router.get(path) { request, context in
            let actor = try await authorize(request, context: context, action: action, target: nil)
            let limit = try Self.limit(request.uri.queryParameters.get("limit"))
            await auditor.record(action, actor: actor, target: nil, outcome: "ok", request: request, context: context)
            let rows = try await datastore(context.logger) { try await fetch(limit) }
            return json(.ok, [key: rows.map(render)])
        }
    }

    static let idempotencyKey = HTTPField.Name.literal("Idempotency-Key")

    /// Runs a mutating admin request at most once per `Idempotency-Key`: the first request with
    /// a key runs and its answer (success or client error) is stored; later ones get that answer
    /// replayed, concurrent ones a 409 while it runs. Without the header the request just runs.
    /// A datastore failure frees the key so the caller's retry can run.
    func idempotent(_ request: Request, context: VigilRequestContext, actor: String,
                    _ body: () async throws -> (HTTPResponse.Status, String)) async throws -> Response {
        guard let key = request.headers[Self.idempotencyKey] else {
            let (status, text) = try await datastore(context.logger, body)
            return Self.response(status, text, replayed: false)
        }
        guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
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
                (status, text) = try await datastore(context.logger, body)
            } catch let problem as Problem where problem.status.code < 500 {
                (status, text) = (problem.status, problem.json(requestId: context.requestId))
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
            throw Problem.badRequest("\(name) '\(text)' is not a time; \(EventExport.timeHelp)")
        }
        return date
    }

    static func taskId(_ context: VigilRequestContext) throws -> Int64 {
        let text = try context.parameters.require("id")
        guard let id = Int64(text), id > 0 else { throw Problem.badRequest("task id must be a positive integer, not '\(text)'") }
        return id
    }

    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...1000).contains(n) else { throw Problem.badRequest("limit must be an integer from 1 to 1000") }
        return n
    }

    /// Accepts any configured token, compared in constant time, and returns the caller's token
    /// id. With no token configured the admin API is off rather than open. Refusals are audited.
    func authorize(_ request: Request, context: VigilRequestContext, action: String, target: String?) async throws -> String {
        let tokens = services.config.adminTokens
        guard !tokens.isEmpty else {
            throw Problem.unauthorized("the admin API is disabled; set VIGIL_ADMIN_TOKEN to enable it")
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            await auditor.record(action, actor: "anonymous", target: target, outcome: "rejected:no_token", request: request, context: context)
            throw Problem.unauthorized("send Authorization: Bearer <token>")
        }
        let presented = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let index = ConstantTime.match(presented, among: tokens) else {
            await auditor.record(action, actor: "unknown-token", target: target, outcome: "rejected:bad_token", request: request, context: context)
            throw Problem.unauthorized("the bearer token is not valid")
        }
        return "token:" + tokens[index].publicID
    }

    func order(_ orderId: String) async throws -> Response {
        let store = services.store
        guard let session = try await store.session(orderId: orderId) else {
            throw Problem.notFound("no verification session for order \(orderId)")
        }
        var body = SessionJSON.summary(session)
        body["customerEmail"] = session.customerEmail
        if let v = session.verificationId { body["verificationId"] = v }
        body["tasks"] = try await store.tasks(orderId: orderId).map(TaskJSON.object)
        body["timeline"] = try await store.eventLog(orderId: orderId).map { event in
            ["id": event.id, "type": event.type, "at": Timestamp.string(event.at), "data": JSONCoding.parseAny(event.data)] as [String: Any]
        }
        body["outbox"] = try await store.outbox(orderId: orderId).map { entry in
            var o: [String: Any] = [
                "provider": entry.provider.rawValue, "operation": entry.operation.rawValue,
                "idempotencyKey": entry.idempotencyKey, "mode": entry.mode.rawValue, "at": Timestamp.string(entry.at), "request": JSONCoding.parseAny(entry.request),
            ]
            if let taskId = entry.taskId { o["taskId"] = taskId }
            if let response = entry.response { o["response"] = JSONCoding.parseAny(response) }
            return o
        }
        return json(.ok, body)
    }
}

/// The order listing's opaque cursor: base64url of "microseconds|orderId".
enum OrderCursor {
    static func encode(_ c: SessionCursor) -> String {
        let micros = Int64((c.createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros)|\(c.orderId)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> SessionCursor? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard text.count <= 1024, let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8),
              let bar = plain.firstIndex(of: "|"), let micros = Int64(plain[..<bar]) else { return nil }
        return SessionCursor(createdAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000),
                             orderId: String(plain[plain.index(after: bar)...]))
    }
}

enum ReviewJSON {
    static func object(_ r: ReviewRecord) -> [String: Any] {
        var o: [String: Any] = ["id": r.id, "reason": r.reason, "createdAt": Timestamp.string(r.createdAt)]
        if let orderId = r.orderId { o["orderId"] = orderId }
        if let eventId = r.eventId { o["eventId"] = eventId }
        return o
    }
}

enum TaskJSON {
    static func object(_ t: TaskRecord) -> [String: Any] {
        var o: [String: Any] = [
            "id": t.id, "name": t.name, "queue": t.queue, "kind": t.kind, "state": t.state.rawValue,
            "attempts": t.attempts, "scheduledAt": Timestamp.string(t.scheduledAt),
            "createdAt": Timestamp.string(t.createdAt), "updatedAt": Timestamp.string(t.updatedAt),
        ]
        if let orderId = t.orderId { o["orderId"] = orderId }
        if let e = t.lastError { o["lastError"] = e }
        if let f = t.firstAttemptAt { o["firstAttemptAt"] = Timestamp.string(f) }
        return o
    }
}
