import Foundation

// The webhook bodies Vigil accepts, as Decodable types. Only the fields Vigil reads are
// declared; anything else in a body is ignored.

/// The contract's order webhook (README, CONTRACT.md).
struct OrderWebhookBody: Decodable {
    var event: WebhookText
    var orderId: WebhookID
    var customerEmail: String
    var orderTotal: WebhookMoney
    var currency: WebhookText?
    var customerId: WebhookID?
    var customerName: WebhookText?
    var paymentId: WebhookID?
    var timestamp: WebhookTime?
}

/// Lightspeed eCom's order webhook: the order resource, where absent values are often `false`.
struct LightspeedOrderBody: Decodable {
    struct Order: Decodable {
        struct Customer: Decodable {
            struct Resource: Decodable { var id: LenientText? }
            var resource: Resource?
        }
        var id: WebhookID
        var email: String
        var firstname: LenientText?
        var lastname: LenientText?
        var priceIncl: WebhookMoney
        var currency: LenientText?
        var customer: Customer?
    }
    var order: Order
}

/// Veriff's decision webhook (https://devdocs.veriff.com/docs/decision-webhook).
struct VeriffDecisionBody: Decodable {
    struct Verification: Decodable {
        var id: WebhookID
        var attemptId: WebhookID?
        var status: String?
        var code: Int?
        var reason: WebhookText?
        var vendorData: WebhookID?
        var decisionTime: WebhookTime?
    }
    var status: String?
    var verification: Verification
}

/// The contract's short form of a decision.
struct ShortDecisionBody: Decodable {
    var event: WebhookText?
    var id: WebhookID
    var status: String
    var orderId: WebhookID?
    var verificationId: WebhookID?
    var code: Int?
    var reason: WebhookText?
    var timestamp: WebhookTime?
}

/// Which form a body is, read without decoding its values.
struct OrderShapeProbe: Decodable {
    var order: IgnoredJSON?
    var event: IgnoredJSON?
}

struct DecisionShapeProbe: Decodable {
    var verification: IgnoredJSON?
}

/// The send time a body may carry, for replay protection.
struct SentAtProbe: Decodable {
    struct Verification: Decodable {
        var decisionTime: WebhookTime?
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            decisionTime = try? container.decodeIfPresent(WebhookTime.self, forKey: .decisionTime)
        }
        enum CodingKeys: String, CodingKey { case decisionTime }
    }
    var timestamp: WebhookTime?
    var verification: Verification?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        timestamp = try? container.decodeIfPresent(WebhookTime.self, forKey: .timestamp)
        verification = try? container.decodeIfPresent(Verification.self, forKey: .verification)
    }
    enum CodingKeys: String, CodingKey { case timestamp, verification }
}
