import Foundation
import Hummingbird
import VigilCore
import VigilStore

/// The admin API's remembered customers: revoking one, so their next order is checked again.
struct CustomerRoutes {
    let access: AdminAccess
    var services: AppServices { access.services }

    func register(on router: RouteTable) {
        router.delete("/api/v1/verified-customers") { request, context in
            let query = request.uri.queryParameters
            let email = query.get("email").flatMap { $0.isEmpty ? nil : $0 }
            let customerId = query.get("customerId").flatMap { $0.isEmpty ? nil : $0 }
            guard email != nil || customerId != nil else {
                throw Problem.badRequest("give email or customerId (or both) of the customer to forget")
            }
            guard (email?.utf8.count ?? 0) <= 320, (customerId?.utf8.count ?? 0) <= WebhookID.maxBytes else {
                throw Problem.badRequest("email or customerId is too long")
            }
            let keys = services.config.customerKeys
            let customerKeys = (customerId.map { [keys.customerId($0)] } ?? []) + (email.map { [keys.email($0)] } ?? [])
            // The audit names the customer by key, never by email.
            let target = customerKeys.joined(separator: ",")
            let actor = try await access.authorize(request, context: context, action: "customer.revoke", target: target)
            return try await access.idempotent(request, context: context, actor: actor) {
                let revoked = try await services.store.revokeVerifiedCustomer(keys: customerKeys, at: services.clock.now())
                await access.auditor.record("customer.revoke", actor: actor, target: target,
                                            outcome: revoked > 0 ? "revoked" : "not_remembered", request: request, context: context)
                return RevokedBody(revoked: revoked)
            }
        }
    }
}

/// How many remembered verifications a revocation ended.
struct RevokedBody: Codable, Equatable {
    var revoked: Int
}
