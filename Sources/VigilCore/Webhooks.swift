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

public enum WebhookParser {
    static let maxIdLength = 200

    /// Parses and validates the contract's order webhook JSON.
    public static func order(from body: Data) throws(PayloadError) -> OrderEvent {
        let object = try jsonObject(body)
        guard let event = object["event"] as? String, !event.isEmpty else {
            throw PayloadError("`event` is required, e.g. \"order.created\"")
        }
        let orderId = try identifier(object["orderId"], field: "orderId")
        guard let email = object["customerEmail"] as? String,
              email.count <= 320, email.contains("@"), !email.contains(where: \.isWhitespace) else {
            throw PayloadError("`customerEmail` must be an email address")
        }
        guard let total = decimal(object["orderTotal"]), total >= 0 else {
            throw PayloadError("`orderTotal` must be a non-negative number")
        }
        let currency = try optionalString(object["currency"], field: "currency")
        if let currency, currency.count != 3 || !currency.allSatisfy(\.isLetter) {
            throw PayloadError("`currency` must be a three-letter ISO 4217 code")
        }
        return OrderEvent(
            event: event, orderId: orderId, customerEmail: email, orderTotal: total,
            currency: currency?.uppercased(),
            customerId: try optionalString(object["customerId"], field: "customerId"),
            customerName: try optionalString(object["customerName"], field: "customerName"),
            paymentId: try optionalString(object["paymentId"], field: "paymentId"))
    }

    /// True when the body is Lightspeed eCom's own order webhook, `{"order":{...}}`.
    public static func isLightspeedNative(_ body: Data) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return false }
        return object["order"] is [String: Any] && object["event"] == nil
    }

    /// Parses Lightspeed eCom's order webhook: the order resource as the API returns it
    /// (https://developers.lightspeedhq.com/ecom/endpoints/order/), `{"order":{"id","email",
    /// "firstname","lastname","priceIncl",...}}`. It names no gateway payment, so such an order
    /// has no `paymentId`: a live refund for it goes to manual review.
    public static func lightspeedOrder(from body: Data) throws(PayloadError) -> OrderEvent {
        let object = try jsonObject(body)
        guard let order = object["order"] as? [String: Any] else { throw PayloadError("`order` must be an object") }
        let orderId = try identifier(order["id"], field: "order.id")
        guard let email = order["email"] as? String, email.count <= 320, email.contains("@"),
              !email.contains(where: \.isWhitespace) else {
            throw PayloadError("`order.email` must be an email address")
        }
        guard let total = decimal(order["priceIncl"]), total >= 0 else {
            throw PayloadError("`order.priceIncl` must be a non-negative number")
        }
        let name = [order["firstname"] as? String, order["lastname"] as? String].compactMap { $0 }
            .filter { !$0.isEmpty }.joined(separator: " ")
        var currency = order["currency"] as? String
        if let code = currency, code.count != 3 || !code.allSatisfy(\.isLetter) { currency = nil }
        let customer = (order["customer"] as? [String: Any])?["resource"] as? [String: Any]
        return OrderEvent(
            event: "order.created", orderId: orderId, customerEmail: email, orderTotal: total,
            currency: currency?.uppercased(),
            customerId: customer.flatMap { try? identifier($0["id"], field: "customer.id") },
            customerName: name.isEmpty ? nil : String(name.prefix(1000)))
    }

    /// Parses Veriff's decision payload or the contract's short form.
    public static func decision(from body: Data) throws(PayloadError) -> DecisionEvent {
        let object = try jsonObject(body)
        if let verification = object["verification"] as? [String: Any] {
            // Veriff decision webhook: {"status":"success","verification":{"id","status","code","vendorData",...}}
            let sessionId = try identifier(verification["id"], field: "verification.id")
            // The status string is authoritative; a payload with only the decision code still maps
            // (https://devdocs.veriff.com/docs/verification-session-decision-codes).
            let decision: VerificationDecision
            if verification["status"] == nil, let byCode = veriffCode(verification["code"]) {
                decision = byCode
            } else {
                decision = try decisionStatus(verification["status"], field: "verification.status")
            }
            let vendorData = verification["vendorData"] as? String
            let attempt = verification["attemptId"] as? String ?? ""
            return DecisionEvent(
                eventId: CompositeKey.of(sessionId, attempt, decision.rawValue),
                orderId: vendorData.flatMap { $0.isEmpty ? nil : $0 },
                verificationId: sessionId, decision: decision,
                code: verification["code"] as? Int,
                reason: verification["reason"] as? String)
        }
        let id = try identifier(object["id"], field: "id")
        let decision = try decisionStatus(object["status"], field: "status")
        let orderId = try optionalString(object["orderId"], field: "orderId")
        guard orderId != nil || object["verificationId"] is String else {
            throw PayloadError("`orderId` is required")
        }
        return DecisionEvent(
            eventId: id, orderId: orderId, verificationId: object["verificationId"] as? String,
            decision: decision, code: object["code"] as? Int, reason: object["reason"] as? String)
    }

    private static func jsonObject(_ body: Data) throws(PayloadError) -> [String: Any] {
        guard !body.isEmpty else { throw PayloadError("the request body is empty; send a JSON object") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            throw PayloadError("the request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw PayloadError("the request body must be a JSON object")
        }
        return object
    }

    private static func identifier(_ value: Any?, field: String) throws(PayloadError) -> String {
        if let text = value as? String, !text.isEmpty, text.count <= maxIdLength,
           !text.contains(where: { $0.isNewline || $0 == "\0" }) {
            return text
        }
        if let value, !isBoolean(value), let number = value as? Int64 {
            return String(number)
        }
        throw PayloadError("`\(field)` is required: a non-empty string of at most \(maxIdLength) characters")
    }

    private static func optionalString(_ value: Any?, field: String) throws(PayloadError) -> String? {
        switch value {
        case nil, is NSNull: return nil
        case let text as String:
            guard text.count <= 1000 else { throw PayloadError("`\(field)` is too long") }
            return text.isEmpty ? nil : text
        default: throw PayloadError("`\(field)` must be a string")
        }
    }

    private static func decimal(_ value: Any?) -> Decimal? {
        switch value {
        case let n as NSNumber where !isBoolean(n): return Decimal(string: n.stringValue)
        case let s as String: return Decimal(string: s)
        default: return nil
        }
    }

    /// JSON `true`/`false` arrive as NSNumber too, and bridge to Int; tell them apart by class.
    private static func isBoolean(_ value: Any) -> Bool {
        String(describing: type(of: value)).contains("Boolean") || type(of: value) == Bool.self
    }

    /// Veriff's decision codes: 9001 approved, 9102 declined, 9103 resubmission requested,
    /// 9104 expired, 9121 abandoned.
    static func veriffCode(_ value: Any?) -> VerificationDecision? {
        switch value as? Int {
        case 9001: .approved
        case 9102: .declined
        case 9103: .resubmissionRequested
        case 9104: .expired
        case 9121: .abandoned
        default: nil
        }
    }

    private static func decisionStatus(_ value: Any?, field: String) throws(PayloadError) -> VerificationDecision {
        guard let text = value as? String, let decision = VerificationDecision(rawValue: text) else {
            let allowed = VerificationDecision.allCases.map(\.rawValue).joined(separator: ", ")
            throw PayloadError("`\(field)` must be one of: \(allowed)")
        }
        return decision
    }
}

/// Replay protection for webhooks that say when they were sent. A signed body replayed while
/// its `(provider, event id)` record exists is already a harmless duplicate; this also refuses
/// a captured body replayed after that record is gone (say, after restoring an old backup),
/// and one dated in the future.
public enum WebhookFreshness {
    /// The time a payload carries: a top-level `timestamp` (RFC 3339, or seconds since 1970)
    /// or Veriff's `verification.decisionTime`. Nil when it carries none or the body is not JSON.
    public static func sentAt(_ body: Data) -> Date? {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
        if let seconds = object["timestamp"] as? Double, !(object["timestamp"] is Bool) {
            return Date(timeIntervalSince1970: seconds)
        }
        if let text = object["timestamp"] as? String { return Timestamp.parse(text) }
        if let verification = object["verification"] as? [String: Any], let text = verification["decisionTime"] as? String {
            return Timestamp.parse(text)
        }
        return nil
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
