import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Tracing
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
        // A span per webhook, inside the request's (which honours an incoming `traceparent`):
        // the tasks the webhook creates remember this trace, and their runs link back to it.
        router.post("/api/v1/post-purchase/webhook") { request, context in
            try await withSpan("webhook lightspeed order") { span in
                try await orderWebhook(request, context: context, span: span)
            }
        }
        router.post("/api/v1/veriff/webhook") { request, context in
            try await withSpan("webhook veriff decision") { span in
                try await decisionWebhook(request, context: context, span: span)
            }
        }
    }

    static let lightspeedEvent = HTTPField.Name.literal("X-Event")

    func orderWebhook(_ request: Request, context: VigilRequestContext, span: any Span) async throws -> Response {
        // Two forms: the contract's JSON with an HMAC-SHA256 signature, and Lightspeed eCom's own
        // order webhook with its MD5 signature (accepted only for that native body shape).
        let (body, signedBy) = try await authenticatedBody(
            request, context: context, source: .lightspeed, secrets: services.config.lightspeedWebhookSecrets,
            headers: Self.lightspeedHeaders, alternative: LightspeedSignature.isValid)
        // Only now, with the signature checked, is anything in the body read, once.
        let order: OrderEvent
        do {
            order = try WebhookParser.orderWebhook(from: body, eventHeader: request.headers[Self.lightspeedEvent])
        } catch {
            services.metrics.webhook(source: .lightspeed, outcome: .invalid)
            throw Problem.badRequest(error.message)
        }
        if signedBy == .alternative, order.source != .lightspeed {
            // Lightspeed's MD5 signature vouches only for Lightspeed's own body shape.
            try await refuse(request, context: context, source: .lightspeed, outcome: "rejected:bad_signature")
        }
        try await checkFresh(order.sentAt, request: request, context: context, source: .lightspeed)
        var logger = context.logger
        logger[metadataKey: "order_id"] = .string(order.orderId)
        span.attributes["vigil.order_id"] = order.orderId
        let receipt = try await datastore(logger) { try await services.flow.receiveOrder(order, payload: String(decoding: body, as: UTF8.self)) }
        span.attributes["vigil.webhook.outcome"] = receipt.outcome
        switch receipt {
        case .created(let session):
            services.metrics.webhook(source: .lightspeed, outcome: .accepted)
            logger.info("order received", metadata: ["state": .string(session.state.rawValue)])
            return try json(.accepted, SessionSummary(session))
        case .applied(let session, let event):
            services.metrics.webhook(source: .lightspeed, outcome: .accepted)
            logger.info("order event applied", metadata: ["event": .string(event), "state": .string(session.state.rawValue)])
            return try json(.accepted, SessionSummary(session))
        case .duplicate:
            services.metrics.webhook(source: .lightspeed, outcome: .duplicate)
            logger.info("duplicate order webhook ignored")
            return try json(.ok, IdempotentBody(orderId: order.orderId))
        case .ignored(let event):
            services.metrics.webhook(source: .lightspeed, outcome: .ignored)
            logger.info("order event recorded without action", metadata: ["event": .string(event)])
            return try json(.ok, IgnoredBody(event: event, orderId: order.orderId))
        }
    }

    func decisionWebhook(_ request: Request, context: VigilRequestContext, span: any Span) async throws -> Response {
        let (body, _) = try await authenticatedBody(
            request, context: context, source: .veriff, secrets: services.config.veriffSharedSecrets,
            headers: Self.veriffHeaders)
        let decision: DecisionEvent
        do {
            decision = try WebhookParser.decision(from: body)
        } catch {
            services.metrics.webhook(source: .veriff, outcome: .invalid)
            throw Problem.badRequest(error.message)
        }
        try await checkFresh(decision.sentAt, request: request, context: context, source: .veriff)
        var logger = context.logger
        if let orderId = decision.orderId { logger[metadataKey: "order_id"] = .string(orderId) }
        span.attributes["vigil.order_id"] = decision.orderId
        let receipt = try await datastore(logger) { try await services.flow.receiveDecision(decision) }
        span.attributes["vigil.webhook.outcome"] = receipt.outcome
        switch receipt {
        case .applied(let state, let event):
            services.metrics.webhook(source: .veriff, outcome: .accepted)
            logger.info("decision applied", metadata: ["decision": .string(decision.status), "state": .string(state.rawValue)])
            return try json(.accepted, DecisionBody(orderId: decision.orderId, status: state, event: event))
        case .duplicate:
            services.metrics.webhook(source: .veriff, outcome: .duplicate)
            return try json(.ok, IdempotentBody())
        case .unknownOrder:
            services.metrics.webhook(source: .veriff, outcome: .review)
            logger.warning("decision for an order Vigil does not have yet; kept until it arrives")
            return try json(.accepted, DecisionBody(
                orderId: decision.orderId, review: true,
                detail: decision.orderId == nil ? "no order named; recorded for review"
                    : "no session for this order yet; kept and applied when the order arrives"))
        }
    }

    /// Which check a body passed.
    enum SignedBy { case hmac, alternative, unsignedInDevelopment }

    /// Checks media type, reads the body within the limit, and verifies its signature over the raw
    /// bytes (HMAC-SHA256, or the source's `alternative` scheme).
    func authenticatedBody(_ request: Request, context: VigilRequestContext, source: WebhookSource, secrets: [Secret],
                           headers: [HTTPField.Name],
                           alternative: (String, Data, [Secret]) -> Bool = { _, _, _ in false }) async throws -> (Data, SignedBy) {
        guard Self.isJSON(request.headers[.contentType]) else { throw Problem.unsupportedMediaType() }
        if !secrets.isEmpty, let wait = services.authFailures.retryAfter(context.remoteAddress, now: services.clock.now()) {
            // A source that keeps failing is refused before its body is read.
            throw Problem.tooManyFailures(retryAfter: wait)
        }
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let body = Data(buffer.readableBytesView)
        // Only reachable in development: production refuses to start without secrets.
        if secrets.isEmpty { return (body, .unsignedInDevelopment) }
        let presented = headers.lazy.compactMap { request.headers[$0] }.first
        if let presented, WebhookSignature.isValid(presented, body: body, secrets: secrets) { return (body, .hmac) }
        if let presented, alternative(presented, body, secrets) { return (body, .alternative) }
        try await refuse(request, context: context, source: source,
                         outcome: presented == nil ? "rejected:no_signature" : "rejected:bad_signature")
    }

    /// Refuses a webhook dated too long ago, or in the future: a replay.
    func checkFresh(_ sentAt: Date?, request: Request, context: VigilRequestContext, source: WebhookSource) async throws {
        guard let sentAt,
              let reason = WebhookFreshness.problem(sentAt: sentAt, now: services.clock.now(), maxAge: services.config.webhookMaxAge)
        else { return }
        services.metrics.webhook(source: source, outcome: .stale)
        await Auditor(store: services.store, clock: services.clock).record(
            "webhook.authenticate", actor: "webhook", target: request.uri.path, outcome: "rejected:stale",
            request: request, context: context)
        throw Problem(.badRequest, "stale-webhook", "Stale webhook", detail: reason)
    }

    /// Counts, audits and refuses a webhook whose signature does not hold.
    func refuse(_ request: Request, context: VigilRequestContext, source: WebhookSource, outcome: String) async throws -> Never {
        services.metrics.webhook(source: source, outcome: .rejected)
        services.authFailures.recordFailure(context.remoteAddress, now: services.clock.now())
        await Auditor(store: services.store, clock: services.clock).record(
            "webhook.authenticate", actor: "webhook", target: request.uri.path, outcome: outcome, request: request, context: context)
        throw Problem.invalidSignature
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

extension OrderReceipt {
    /// For the webhook's span.
    var outcome: String {
        switch self {
        case .created: "created"
        case .duplicate: "duplicate"
        case .applied: "applied"
        case .ignored: "ignored"
        }
    }
}

extension DecisionReceipt {
    /// For the webhook's span.
    var outcome: String {
        switch self {
        case .applied: "applied"
        case .duplicate: "duplicate"
        case .unknownOrder: "unknown_order"
        }
    }
}
