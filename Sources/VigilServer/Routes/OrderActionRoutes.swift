import Foundation
import Hummingbird
import VigilCore
import VigilFlow
import VigilStore

/// The admin API's staff actions: the console's buttons for scripts. Each is a transition of the
/// order's state machine, idempotent with `Idempotency-Key`, audited with the token's id, and
/// refused whole (409) when the order's state does not allow it.
struct OrderActionRoutes {
    let access: AdminAccess
    var services: AppServices { access.services }
    var auditor: Auditor { access.auditor }

    func register(on router: RouteTable) {
        let simple: [(String, OperatorAction)] = [("approve", .approve), ("decline", .decline), ("resend", .resend), ("cancel", .cancel)]
        for (name, action) in simple {
            router.post("/api/v1/orders/:orderId/\(name)") { request, context in
                try await act(request, context, name: name) { _ in action }
            }
        }
        router.post("/api/v1/orders/:orderId/extend") { request, context in
            let body = try await Self.body(ExtendDeadline.self, request)
            return try await act(request, context, name: "extend") { session in
                let by = try body.by.map { text in
                    do { return try DurationText.parse(text) } catch { throw Problem.badRequest("by: \(error)") }
                }
                switch (body.deadline, by) {
                case (let deadline?, nil): return .extend(to: deadline)
                case (nil, let by?): return .extend(to: max(session.deadline, services.clock.now()).addingTimeInterval(by))
                default: throw Problem.badRequest("give either deadline (RFC 3339) or by (a duration such as 24h), not both")
                }
            }
        }
        router.post("/api/v1/reviews/:id/resolve") { request, context in
            let text = try context.pathParameter("id")
            guard let id = Int64(text), id > 0 else { throw Problem.badRequest("review id must be a positive integer, not '\(text.prefix(32))'") }
            let body = try await Self.body(ResolveReview.self, request)
            let note = body.note.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !note.isEmpty, note.utf8.count <= 2000 else { throw Problem.badRequest("note: say what was done, in 1 to 2000 bytes") }
            let actor = try await access.authorize(request, context: context, action: "review.resolve", target: "\(id)")
            return try await access.idempotent(request, context: context, actor: actor) {
                let store = services.store
                guard let review = try await store.review(id: id) else { throw Problem.notFound("no review \(id)") }
                guard review.resolvedAt == nil, try await store.resolveReview(id: id, by: actor, note: note, at: services.clock.now()) else {
                    throw Problem(.conflict, "already-resolved", "Already resolved", detail: "review \(id) was resolved by \(review.resolvedBy ?? "someone") already")
                }
                await auditor.record("review.resolve", actor: actor, target: "\(id)", outcome: "ok", request: request, context: context)
                return ReviewView(try await store.review(id: id) ?? review)
            }
        }
    }

    private func act(_ request: Request, _ context: VigilRequestContext, name: String,
                     _ action: @escaping (SessionRecord) throws -> OperatorAction) async throws -> Response {
        let orderId = try context.pathParameter("orderId")
        let auditAction = "order.\(name)"
        let actor = try await access.authorize(request, context: context, action: auditAction, target: orderId)
        return try await access.idempotent(request, context: context, actor: actor) {
            guard let session = try await services.store.session(orderId: orderId) else {
                throw Problem.notFound("no verification session for order \(orderId)")
            }
            do {
                _ = try await services.flow.act(try action(session), orderId: orderId, actor: actor)
            } catch let refused as ActionRefused {
                await auditor.record(auditAction, actor: actor, target: orderId, outcome: "refused", request: request, context: context)
                throw Problem(.conflict, "action-refused", "Action refused", detail: refused.description)
            }
            await auditor.record(auditAction, actor: actor, target: orderId, outcome: "ok", request: request, context: context)
            return try await OrderRoutes.order(orderId, in: services.store)
        }
    }

    static func body<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer = try await request.body.collect(upTo: 16 * 1024)
        do {
            return try APIJSON.decoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw Problem.badRequest("the body is not the JSON this request takes (see /openapi.yaml)")
        }
    }
}
