import Foundation
import Hummingbird
import VigilCore
import VigilStore

/// The admin API's customer data requests: erase an order's or a customer's personal data, and
/// export what is held about a customer. Audited by order id or the email's keyed hash.
struct DataRoutes {
    let access: AdminAccess
    var services: AppServices { access.services }
    var auditor: Auditor { access.auditor }

    func register(on router: RouteTable) {
        router.post("/api/v1/orders/:orderId/erase") { request, context in
            let orderId = try context.pathParameter("orderId")
            let actor = try await access.authorize(request, context: context, action: "order.erase", target: orderId)
            return try await access.idempotent(request, context: context, actor: actor) {
                let body = try await CustomerData.erase(services.store, orderIds: [orderId], at: services.clock.now())
                if !body.notFound.isEmpty { throw Problem.notFound("no verification session for order \(orderId)") }
                if !body.pending.isEmpty {
                    throw Problem(.conflict, "order-pending", "Order pending", detail: "order \(orderId) is still pending; decide or cancel it first")
                }
                await auditor.record("order.erase", actor: actor, target: orderId, outcome: body.erased.isEmpty ? "already_erased" : "erased",
                                     request: request, context: context)
                return body
            }
        }
        router.post("/api/v1/customers/erase") { request, context in
            let email = try await Self.email(request)
            let target = services.config.customerKeys.email(email)
            let actor = try await access.authorize(request, context: context, action: "customer.erase", target: target)
            return try await access.idempotent(request, context: context, actor: actor) {
                let store = services.store
                let ids = try await CustomerData.orders(store, email: email, keys: services.config.customerKeys)
                let body = try await CustomerData.erase(store, orderIds: ids, at: services.clock.now())
                await auditor.record("customer.erase", actor: actor, target: target,
                                     outcome: "erased:\(body.erased.count),pending:\(body.pending.count)", request: request, context: context)
                return body
            }
        }
        router.post("/api/v1/customers/export") { request, context in
            let email = try await Self.email(request)
            let target = services.config.customerKeys.email(email)
            let actor = try await access.authorize(request, context: context, action: "customer.export", target: target)
            let body = try await CustomerData.export(services.store, email: email, keys: services.config.customerKeys)
            await auditor.record("customer.export", actor: actor, target: target, outcome: "orders:\(body.orders.count)",
                                 request: request, context: context)
            return try json(.ok, body)
        }
    }

    static func email(_ request: Request) async throws -> String {
        let body = try await OrderActionRoutes.body(CustomerRequest.self, request)
        let email = body.email.trimmingCharacters(in: .whitespacesAndNewlines)
        guard email.contains("@"), (3...320).contains(email.utf8.count) else { throw Problem.badRequest("email must be an email address") }
        return email
    }
}
