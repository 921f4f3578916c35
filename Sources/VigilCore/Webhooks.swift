import Crypto
import Foundation

/// What an order event asks of Vigil.
public enum OrderEventKind: String, Sendable, Codable {
    /// A new order: decide whether it needs a check, and open one.
    case created
    /// The order changed in the shop (an email address, say).
    case updated
    /// The order was cancelled in the shop.
    case cancelled
    /// Recorded without action.
    case other
}

/// Where an order webhook came from.
public enum OrderSource: String, Sendable, Codable {
    /// The contract's JSON.
    case contract
    /// Lightspeed eCom's own order webhook.
    case lightspeed
}

/// An order event from the shop platform, validated.
public struct OrderEvent: Sendable, Equatable, Codable {
    public var event: String
    public var kind: OrderEventKind
    public var orderId: String
    public var customerEmail: String
    public var orderTotal: Decimal
    public var currency: String?
    public var customerId: String?
    public var customerName: String?
    public var paymentId: String?
    public var lineItems: [LineItem]
    public var region: Region?
    public var customerTags: [String]
    public var source: OrderSource
    /// When the sender says it sent the event (replay protection).
    public var sentAt: Date?
    /// Idempotency identity: the same value is the same delivery.
    public var eventId: String

    public init(event: String, orderId: String, customerEmail: String, orderTotal: Decimal,
                currency: String? = nil, customerId: String? = nil, customerName: String? = nil,
                paymentId: String? = nil, lineItems: [LineItem] = [], region: Region? = nil, customerTags: [String] = [],
                source: OrderSource = .contract, sentAt: Date? = nil, kind: OrderEventKind? = nil, eventId: String? = nil) {
        self.event = event
        self.kind = kind ?? OrderEvent.kind(of: event)
        self.orderId = orderId
        self.customerEmail = customerEmail
        self.orderTotal = orderTotal
        self.currency = currency
        self.customerId = customerId
        self.customerName = customerName
        self.paymentId = paymentId
        self.lineItems = lineItems
        self.region = region
        self.customerTags = customerTags
        self.source = source
        self.sentAt = sentAt
        // The same `(event, orderId)` is the same delivery, built so that no event name can
        // pass for another order's event (`order.created:x` of order `B1` is not `order.created`
        // of order `x:B1`).
        self.eventId = eventId ?? CompositeKey.of(event, orderId)
    }

    /// The contract's event names.
    public static func kind(of event: String) -> OrderEventKind {
        switch event {
        case "order.created": .created
        case "order.updated": .updated
        case "order.cancelled", "order.canceled": .cancelled
        default: .other
        }
    }
}

/// A verification decision, from either of the accepted payload forms.
public struct DecisionEvent: Sendable, Equatable {
    public var eventId: String
    public var orderId: String?
    public var verificationId: String?
    /// The provider's status as sent; `decision` is nil for one Vigil does not act on.
    public var status: String
    public var decision: VerificationDecision?
    public var code: Int?
    public var reason: String?
    /// What the policy needs, read from the decision and kept only until it is judged.
    public var dateOfBirth: LocalDate?
    public var documentValidUntil: LocalDate?
    /// When the provider decided; Vigil counts age on that day.
    public var decidedAt: Date?
    /// When the sender says it sent the event (replay protection).
    public var sentAt: Date?

    public init(eventId: String, orderId: String?, verificationId: String?, decision: VerificationDecision?,
                status: String? = nil, code: Int? = nil, reason: String? = nil, dateOfBirth: LocalDate? = nil,
                documentValidUntil: LocalDate? = nil, decidedAt: Date? = nil, sentAt: Date? = nil) {
        self.eventId = eventId
        self.orderId = orderId
        self.verificationId = verificationId
        self.status = status ?? decision?.rawValue ?? "unknown"
        self.decision = decision
        self.code = code
        self.reason = reason
        self.dateOfBirth = dateOfBirth
        self.documentValidUntil = documentValidUntil
        self.decidedAt = decidedAt
        self.sentAt = sentAt
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
    /// Parses an order webhook in either form. `eventHeader` is Lightspeed's `X-Event`
    /// (`orders/created`, `orders/updated`), which says what a Lightspeed body is about.
    public static func orderWebhook(from body: Data, eventHeader: String? = nil) throws(PayloadError) -> OrderEvent {
        switch try decode(OrderWebhookEnvelope.self, body) {
        case .contract(let order): return try contract(order, body: body)
        case .lightspeed(let order): return try lightspeed(order.order, eventHeader: eventHeader, body: body)
        }
    }

    /// Parses and validates the contract's order webhook JSON.
    public static func order(from body: Data) throws(PayloadError) -> OrderEvent {
        try contract(try decode(OrderWebhookBody.self, body), body: body)
    }

    static func contract(_ order: OrderWebhookBody, body: Data) throws(PayloadError) -> OrderEvent {
        let email = try emailAddress(order.customerEmail, field: "customerEmail")
        let currency = try currencyCode(order.currency?.value, field: "currency")
        var region: Region?
        if let address = order.shippingAddress {
            guard let parsed = Region(country: address.country.value, subdivision: address.state?.value) else {
                throw PayloadError("`shippingAddress` must have a two-letter `country` (ISO 3166-1) and an optional `state` of up to three letters")
            }
            region = parsed
        }
        let items = (order.lineItems ?? []).map { item in
            LineItem(sku: item.sku?.value, quantity: item.quantity ?? 1, tags: (item.tags ?? []).map(\.value),
                     categories: (item.categories ?? []).map(\.value))
        }
        let event = order.event.value
        let kind = OrderEvent.kind(of: event)
        // A creation is one delivery per order; other events may come several times for one order
        // with different contents, so the body itself tells deliveries apart.
        let eventId = kind == .created ? CompositeKey.of(event, order.orderId.value)
            : CompositeKey.of(event, order.orderId.value, Digest.hex(body))
        return OrderEvent(
            event: event, orderId: order.orderId.value, customerEmail: email, orderTotal: order.orderTotal.value,
            currency: currency, customerId: order.customerId?.value, customerName: order.customerName?.value.nonEmpty,
            paymentId: order.paymentId?.value, lineItems: items, region: region,
            customerTags: (order.customerTags ?? []).map(\.value), source: .contract, sentAt: order.timestamp?.value,
            kind: kind, eventId: eventId)
    }

    /// Lightspeed eCom's order resource (https://developers.lightspeedhq.com/ecom/endpoints/order/),
    /// `{"order":{"id","email","firstname","lastname","priceIncl",...}}`. It names no gateway
    /// payment: a refund reads the order's payments from Lightspeed when it runs.
    public static func lightspeedOrder(from body: Data, eventHeader: String? = nil) throws(PayloadError) -> OrderEvent {
        try lightspeed(try decode(LightspeedOrderBody.self, body).order, eventHeader: eventHeader, body: body)
    }

    static func lightspeed(_ order: LightspeedOrderBody.Order, eventHeader: String?, body: Data) throws(PayloadError) -> OrderEvent {
        let email = try emailAddress(order.email, field: "order.email")
        let name = [order.firstname?.value, order.lastname?.value].compactMap { $0 }.joined(separator: " ")
        let action = eventHeader?.split(separator: "/").last.map(String.init) ?? "created"
        let kind: OrderEventKind
        switch action {
        case "created": kind = .created
        case "updated", "paid", "shipped": kind = order.status?.value == "cancelled" ? .cancelled : .updated
        case "cancelled", "deleted": kind = .cancelled
        default: kind = .other
        }
        let items = (order.products?.resource?.embedded ?? []).map { product in
            LineItem(sku: product.sku?.value ?? product.articleCode?.value, quantity: product.quantityOrdered ?? 1)
        }
        let region = order.addressShippingCountry?.code?.value.flatMap {
            Region(country: $0, subdivision: order.addressShippingRegionData?.code?.value)
        }
        let event = kind == .created ? "order.created" : "orders/\(action)"
        let eventId = kind == .created ? CompositeKey.of(event, order.id.value)
            : CompositeKey.of(event, order.id.value, order.updatedAt?.value ?? Digest.hex(body))
        return OrderEvent(
            event: event, orderId: order.id.value, customerEmail: email, orderTotal: order.priceIncl.value,
            currency: try? currencyCode(order.currency?.value, field: "order.currency"),
            customerId: order.customer?.resource?.id?.value.flatMap(WebhookID.check),
            customerName: name.isEmpty ? nil : String(name.utf8.prefix(WebhookText.maxBytes)) ?? nil,
            lineItems: items, region: region, source: .lightspeed, kind: kind, eventId: eventId)
    }

    /// Parses Veriff's decision payload or the contract's short form.
    public static func decision(from body: Data) throws(PayloadError) -> DecisionEvent {
        switch try decode(DecisionEnvelope.self, body) {
        case .veriff(let body):
            let verification = body.verification
            // The status string is authoritative; Veriff's own tables disagree on some codes
            // (https://devdocs.veriff.com/docs/verification-session-status-codes-table). A payload
            // with only the code still maps.
            let status = verification.status?.value ?? verification.code.flatMap(veriffCode)?.rawValue
            guard let status else { throw PayloadError("`verification.status` is required") }
            let attempt = verification.attemptId?.value ?? ""
            return DecisionEvent(
                eventId: CompositeKey.of(verification.id.value, attempt, status),
                orderId: verification.vendorData?.value, verificationId: verification.id.value,
                decision: VerificationDecision(rawValue: status), status: status, code: verification.code,
                reason: verification.reason?.value,
                dateOfBirth: verification.person?.dateOfBirth?.value.flatMap(LocalDate.init(iso:)),
                documentValidUntil: verification.document?.validUntil?.value.flatMap(LocalDate.init(iso:)),
                decidedAt: verification.decisionTime?.value, sentAt: verification.decisionTime?.value)
        case .short(let short):
            guard short.orderId != nil || short.verificationId != nil else {
                throw PayloadError("`orderId` is required")
            }
            return DecisionEvent(
                eventId: short.id.value, orderId: short.orderId?.value, verificationId: short.verificationId?.value,
                decision: VerificationDecision(rawValue: short.status.value), status: short.status.value, code: short.code,
                reason: short.reason?.value, dateOfBirth: short.dateOfBirth?.value.flatMap(LocalDate.init(iso:)),
                documentValidUntil: short.documentValidUntil?.value.flatMap(LocalDate.init(iso:)),
                decidedAt: short.timestamp?.value, sentAt: short.timestamp?.value)
        }
    }

    /// Veriff's decision codes, as its status table gives them: 9001 approved, 9102 declined,
    /// 9103 resubmission requested, 9104 expired, 9121 review.
    static func veriffCode(_ code: Int) -> VerificationDecision? {
        switch code {
        case 9001: .approved
        case 9102: .declined
        case 9103: .resubmissionRequested
        case 9104: .expired
        case 9121: .review
        default: nil
        }
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
        case is Array<Any>.Type: "an array"
        default: "an object"
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// A short hex digest of bytes, for telling deliveries apart.
enum Digest {
    static func hex(_ data: Data) -> String {
        Hex.encode(SHA256.hash(data: data).prefix(16))
    }
}

/// Replay protection for webhooks that say when they were sent. A signed body replayed while
/// its `(provider, event id)` record exists is already a harmless duplicate; this also refuses
/// a captured body replayed after that record is gone (say, after restoring an old backup),
/// and one dated in the future.
public enum WebhookFreshness {
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
