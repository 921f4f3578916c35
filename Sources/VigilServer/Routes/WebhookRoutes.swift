import Foundation
import HTTPTypes
import Hummingbird
import Logging
import VigilCore
import VigilFlow
import VigilStore

/// The two inbound webhooks. Order of checks: media type, size, signature over the raw bytes,
/// and only then parsing, so unauthenticated input is never interpreted.
struct WebhookRoutes {
    let services: AppServices

    static let lightspeedHeaders = [HTTPField.Name.literal("X-Signature")]
    static let veriffHeaders = ["X-HMAC-SIGNATURE", "VRF-HMAC-SIGNATURE", "X-Signature"].map(HTTPField.Name.literal)

    func register(on router: RouteTable) {
        router.timeout = RequestTimeout(seconds: services.config.webhookTimeout, what: "webhook")
        defer { router.timeout = nil }
        router.post("/api/v1/post-purchase/webhook") { request, context in
            try await orderWebhook(request, context: context)
        }
        router.post("/api/v1/veriff/webhook") { request, context in
            try await decisionWebhook(request, context: context)
        }
    }

    func orderWebhook(_ request: Request, context: VigilRequestContext) async throws -> Response {
        // Two forms: the contract's JSON with an HMAC-SHA256 signature, and Lightspeed eCom's own
        // order webhook with its MD5 signature (accepted only for that native body shape).
        let body = try await authenticatedBody(
            request, context: context, provider: "lightspeed", secrets: services.config.lightspeedWebhookSecrets,
            headers: Self.lightspeedHeaders, alternative: { signature, body, secrets in
                WebhookParser.isLightspeedNative(body) && LightspeedSignature.isValid(signature, body: body, secrets: secrets)
            })
        let order: OrderEvent
        do {
            order = WebhookParser.isLightspeedNative(body)
                ? try WebhookParser.lightspeedOrder(from: body) : try WebhookParser.order(from: body)
        } catch {
            services.metrics.webhook(provider: "lightspeed", outcome: "invalid")
            throw Problem.badRequest(error.message)
        }
        var logger = context.logger
        logger[metadataKey: "order_id"] = .string(order.orderId)
        let receipt = try await datastore(logger) { try await services.flow.receiveOrder(order, payload: String(decoding: body, as: UTF8.self)) }
        switch receipt {
        case .created(let session):
            services.metrics.webhook(provider: "lightspeed", outcome: "accepted")
            logger.info("order received; verification session opened")
            return try json(.accepted, SessionSummary(session))
        case .duplicate:
            services.metrics.webhook(provider: "lightspeed", outcome: "duplicate")
            logger.info("duplicate order webhook ignored")
            return try json(.ok, IdempotentBody(orderId: order.orderId))
        case .ignored(let event):
            services.metrics.webhook(provider: "lightspeed", outcome: "ignored")
            logger.info("order event recorded without action", metadata: ["event": .string(event)])
            return try json(.ok, IgnoredBody(event: event, orderId: order.orderId))
        }
    }

    func decisionWebhook(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let body = try await authenticatedBody(
            request, context: context, provider: "veriff", secrets: services.config.veriffSharedSecrets,
            headers: Self.veriffHeaders)
        let decision: DecisionEvent
        do {
            decision = try WebhookParser.decision(from: body)
        } catch {
            services.metrics.webhook(provider: "veriff", outcome: "invalid")
            throw Problem.badRequest(error.message)
        }
        var logger = context.logger
        if let orderId = decision.orderId { logger[metadataKey: "order_id"] = .string(orderId) }
        let receipt = try await datastore(logger) { try await services.flow.receiveDecision(decision, payload: String(decoding: body, as: UTF8.self)) }
        switch receipt {
        case .applied(let state, let event):
            services.metrics.webhook(provider: "veriff", outcome: "accepted")
            logger.info("decision applied", metadata: ["decision": .string(decision.decision.rawValue), "state": .string(state.rawValue)])
            return try json(.accepted, DecisionBody(orderId: decision.orderId, status: state, event: event))
        case .duplicate:
            services.metrics.webhook(provider: "veriff", outcome: "duplicate")
            return try json(.ok, IdempotentBody())
        case .unknownOrder:
            services.metrics.webhook(provider: "veriff", outcome: "review")
            logger.warning("decision for an unknown order recorded for review")
            return try json(.accepted, DecisionBody(review: true, detail: "no session for this order; recorded for review"))
        }
    }

    /// Checks media type, reads the body within the limit, and verifies its signature.
    func authenticatedBody(_ request: Request, context: VigilRequestContext, provider: String, secrets: [Secret],
                           headers: [HTTPField.Name],
                           alternative: (String, Data, [Secret]) -> Bool = { _, _, _ in false }) async throws -> Data {
        guard Self.isJSON(request.headers[.contentType]) else { throw Problem.unsupportedMediaType() }
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let body = Data(buffer.readableBytesView)
        if secrets.isEmpty {
            // Only reachable in development: production refuses to start without secrets.
            return body
        }
        let presented = headers.lazy.compactMap { request.headers[$0] }.first
        guard let presented, WebhookSignature.isValid(presented, body: body, secrets: secrets)
                || alternative(presented, body, secrets) else {
            services.metrics.webhook(provider: provider, outcome: "rejected")
            await Auditor(store: services.store, clock: services.clock).record(
                "webhook.authenticate", actor: "webhook", target: request.uri.path,
                outcome: presented == nil ? "rejected:no_signature" : "rejected:bad_signature", request: request, context: context)
            throw Problem.invalidSignature
        }
        if let sentAt = WebhookFreshness.sentAt(body),
           let reason = WebhookFreshness.problem(sentAt: sentAt, now: services.clock.now(), maxAge: services.config.webhookMaxAge) {
            services.metrics.webhook(provider: provider, outcome: "stale")
            await Auditor(store: services.store, clock: services.clock).record(
                "webhook.authenticate", actor: "webhook", target: request.uri.path, outcome: "rejected:stale",
                request: request, context: context)
            throw Problem(.badRequest, "stale-webhook", "Stale webhook", detail: reason)
        }
        return body
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let media = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }
}

/// Runs a datastore operation; a failure becomes a 503 the sender can retry, never a 500 with
/// internals. Problems pass through untouched.
func datastore<T>(_ logger: Logger, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let problem as Problem {
        throw problem
    } catch {
        logger.error("datastore operation failed", metadata: ["error": "\(error)"])
        throw Problem.unavailable
    }
}
