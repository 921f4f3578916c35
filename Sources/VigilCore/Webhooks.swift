import Foundation

/// An order event from the shop platform, validated.
public struct OrderEvent: Sendable, Equatable, Codable {
    public var event: String
    public var orderId: String
    public var customerEmail: String
    public var orderTotal: Decimal
    public var currency: String?
    public var customerId: String?
    public var customerName: String?
    public var paymentId: String?

    public init(event: String, orderId: String, customerEmail: String, orderTotal: Decimal,
                currency: String? = nil, customerId: String? = nil, customerName: String? = nil,
                paymentId: String? = nil) {
        self.event = event
        self.orderId = orderId
        self.customerEmail = customerEmail
        self.orderTotal = orderTotal
        self.currency = currency
        self.customerId = customerId
        self.customerName = customerName
        self.paymentId = paymentId
    }

    /// Idempotency identity of an order event: the same `(event, orderId)` is the same delivery.
    /// Built so that no event name can pass for another order's event (`order.created:x` of
    /// order `B1` is not `order.created` of order `x:B1`).
    public var eventId: String { CompositeKey.of(event, orderId) }
}

/// A verification decision, from either of the accepted payload forms.
public struct DecisionEvent: Sendable, Equatable {
    public var eventId: String
    public var orderId: String?
    public var verificationId: String?
    public var decision: VerificationDecision
    public var code: Int?
    public var reason: String?

    public init(eventId: String, orderId: String?, verificationId: String?, decision: VerificationDecision,
                code: Int? = nil, reason: String? = nil) {
        self.eventId = eventId
        self.orderId = orderId
        self.verificationId = verificationId
        self.decision = decision
        self.code = code
        self.reason = reason
    }
}

/// Why a webhook body was refused; the message is safe to show the sender.
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Turns webhook bodies into events. Each form is a Decodable body (`WebhookBodies.swift`) whose
/// values check themselves as they decode; a body that does not decode is refused with a message
/// naming the field, and nothing is read from a body before its signature was checked.
public enum WebhookParser {
    /// Parses and validates the contract's order webhook JSON.
    public static func order(from body: Data) throws(PayloadError) -> OrderEvent {
        let order = try decode(OrderWebhookBody.self, body)
        let email = try emailAddress(order.customerEmail, field: "customerEmail")
        let currency = try currencyCode(order.currency?.value, field: "currency")
        return OrderEvent(
            event: order.event.value, orderId: order.orderId.value, customerEmail: email, orderTotal: order.orderTotal.value,
            currency: currency, customerId: order.customerId?.value, customerName: order.customerName?.value.nonEmpty,
            paymentId: order.paymentId?.value)
    }

    /// The shape of an order webhook body, told apart without trusting anything in it.
    public enum OrderShape: Sendable { case contract, lightspeed }

    /// Lightspeed eCom's own order webhook is `{"order":{...}}` with no top-level `event`.
    public static func orderShape(_ body: Data) -> OrderShape {
        guard let probe = try? JSONDecoder().decode(OrderShapeProbe.self, from: body), probe.order != nil, probe.event == nil else {
            return .contract
        }
        return .lightspeed
    }

    /// Parses Lightspeed eCom's order webhook: the order resource as the API returns it
    /// (https://developers.lightspeedhq.com/ecom/endpoints/order/), `{"order":{"id","email",
    /// "firstname","lastname","priceIncl",...}}`. It names no gateway payment, so such an order
    /// has no `paymentId`.
    public static func lightspeedOrder(from body: Data) throws(PayloadError) -> OrderEvent {
        let order = try decode(LightspeedOrderBody.self, body).order
        let email = try emailAddress(order.email, field: "order.email")
        let name = [order.firstname?.value, order.lastname?.value].compactMap { $0 }.joined(separator: " ")
        return OrderEvent(
            event: "order.created", orderId: order.id.value, customerEmail: email, orderTotal: order.priceIncl.value,
            currency: try? currencyCode(order.currency?.value, field: "order.currency"),
            customerId: order.customer?.resource?.id?.value.flatMap(WebhookID.check),
            customerName: name.isEmpty ? nil : String(name.utf8.prefix(WebhookText.maxBytes)) ?? nil)
    }

    /// Parses Veriff's decision payload or the contract's short form.
    public static func decision(from body: Data) throws(PayloadError) -> DecisionEvent {
        let probe = try decode(DecisionShapeProbe.self, body)
        if probe.verification != nil {
            let verification = try decode(VeriffDecisionBody.self, body).verification
            // The status string is authoritative; a payload with only the decision code still maps
            // (https://devdocs.veriff.com/docs/verification-session-decision-codes).
            let decision: VerificationDecision
            if let status = verification.status {
                decision = try decisionStatus(status, field: "verification.status")
            } else if let byCode = verification.code.flatMap(veriffCode) {
                decision = byCode
            } else {
                throw PayloadError("`verification.status` is required")
            }
            let attempt = verification.attemptId?.value ?? ""
            return DecisionEvent(
                eventId: CompositeKey.of(verification.id.value, attempt, decision.rawValue),
                orderId: verification.vendorData?.value, verificationId: verification.id.value, decision: decision,
                code: verification.code, reason: verification.reason?.value)
        }
        let short = try decode(ShortDecisionBody.self, body)
        guard short.orderId != nil || short.verificationId != nil else {
            throw PayloadError("`orderId` is required")
        }
        return DecisionEvent(
            eventId: short.id.value, orderId: short.orderId?.value, verificationId: short.verificationId?.value,
            decision: try decisionStatus(short.status, field: "status"), code: short.code, reason: short.reason?.value)
    }

    /// Veriff's decision codes: 9001 approved, 9102 declined, 9103 resubmission requested,
    /// 9104 expired, 9121 abandoned.
    static func veriffCode(_ code: Int) -> VerificationDecision? {
        switch code {
        case 9001: .approved
        case 9102: .declined
        case 9103: .resubmissionRequested
        case 9104: .expired
        case 9121: .abandoned
        default: nil
        }
    }

    private static func decisionStatus(_ text: String, field: String) throws(PayloadError) -> VerificationDecision {
        guard let decision = VerificationDecision(rawValue: text) else {
            let allowed = VerificationDecision.allCases.map(\.rawValue).joined(separator: ", ")
            throw PayloadError("`\(field)` must be one of: \(allowed)")
        }
        return decision
    }

    private static func emailAddress(_ text: String, field: String) throws(PayloadError) -> String {
        guard text.utf8.count <= 320, text.contains("@"), !text.contains(where: { $0.isWhitespace }),
              !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw PayloadError("`\(field)` must be an email address")
        }
        return text
    }

    private static func currencyCode(_ text: String?, field: String) throws(PayloadError) -> String? {
        guard let text else { return nil }
        guard text.utf8.count == 3, text.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw PayloadError("`\(field)` must be a three-letter ISO 4217 code")
        }
        return text.uppercased()
    }

    /// Decodes `body`, turning a decoding failure into a message that names the field.
    static func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws(PayloadError) -> T {
        guard !body.isEmpty else { throw PayloadError("the request body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch let error as DecodingError {
            throw PayloadError(describe(error))
        } catch {
            throw PayloadError("the request body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "`\(field(context.codingPath + [key]))` is required"
        case .valueNotFound(_, let context) where !context.codingPath.isEmpty:
            return "`\(field(context.codingPath))` is required"
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return "the request body must be a JSON object"
        case .typeMismatch(let type, let context):
            return "`\(field(context.codingPath))` must be \(Self.kind(type))"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "the request body is not valid JSON"
        case .dataCorrupted(let context):
            return "`\(field(context.codingPath))` \(context.debugDescription)"
        default:
            return "the request body is not valid JSON"
        }
    }

    private static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        default: "an object"
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// Replay protection for webhooks that say when they were sent. A signed body replayed while
/// its `(provider, event id)` record exists is already a harmless duplicate; this also refuses
/// a captured body replayed after that record is gone (say, after restoring an old backup),
/// and one dated in the future.
public enum WebhookFreshness {
    /// The time a payload carries: a top-level `timestamp` (RFC 3339, or seconds since 1970;
    /// never a boolean) or Veriff's `verification.decisionTime`. Nil when it carries none, or
    /// none that is a time (the body's own parser reports that).
    public static func sentAt(_ body: Data) -> Date? {
        guard let probe = try? JSONDecoder().decode(SentAtProbe.self, from: body) else { return nil }
        return probe.timestamp?.value ?? probe.verification?.decisionTime?.value
    }

    /// Why a payload sent at `sentAt` is refused at `now`, or nil when it is fresh enough.
    public static func problem(sentAt: Date, now: Date, maxAge: TimeInterval, skew: TimeInterval = 300) -> String? {
        if sentAt > now.addingTimeInterval(skew) {
            return "the webhook is dated \(Timestamp.string(sentAt)), in the future; check the sender's clock"
        }
        if now.timeIntervalSince(sentAt) > maxAge {
            return "the webhook is dated \(Timestamp.string(sentAt)), older than the \(DurationText.format(maxAge)) accepted; it looks like a replay"
        }
        return nil
    }
}
