import Foundation
import Hummingbird
import VigilCore
import VigilQueue
import VigilStore

/// The operator's API, behind bearer tokens.
struct AdminRoutes {
    let services: AppServices

    func register(on router: Router<VigilRequestContext>) {
        router.get("/api/v1/orders/:orderId") { request, context in
            try authorize(request, context: context)
            let orderId = try context.parameters.require("orderId")
            return try await datastore(context.logger) { try await order(orderId) }
        }
    }

    /// Accepts any configured token, compared in constant time. With none configured the admin
    /// API is off rather than open.
    func authorize(_ request: Request, context: VigilRequestContext) throws {
        let tokens = services.config.adminTokens
        guard !tokens.isEmpty else {
            throw Problem.unauthorized("the admin API is disabled; set VIGIL_ADMIN_TOKEN to enable it")
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            context.logger.warning("admin request rejected: no bearer token", metadata: ["path": .string(request.uri.path)])
            throw Problem.unauthorized("send Authorization: Bearer <token>")
        }
        let presented = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard ConstantTime.match(presented, among: tokens) != nil else {
            context.logger.warning("admin request rejected: unknown token", metadata: ["path": .string(request.uri.path)])
            throw Problem.unauthorized("the bearer token is not valid")
        }
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
        body["timeline"] = try await store.events(orderId: orderId).map { event in
            ["id": event.id, "type": event.type, "at": Timestamp.string(event.at), "data": JSONCoding.parseAny(event.data)] as [String: Any]
        }
        body["outbox"] = try await store.outbox(orderId: orderId).map { entry in
            var o: [String: Any] = [
                "provider": entry.provider, "operation": entry.operation, "idempotencyKey": entry.idempotencyKey,
                "mode": entry.mode, "at": Timestamp.string(entry.at), "request": JSONCoding.parseAny(entry.request),
            ]
            if let taskId = entry.taskId { o["taskId"] = taskId }
            if let response = entry.response { o["response"] = JSONCoding.parseAny(response) }
            return o
        }
        return json(.ok, body)
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
