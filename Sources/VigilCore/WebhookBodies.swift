import Foundation

// The webhook bodies Vigil accepts, as Decodable types. Only the fields Vigil reads are
// declared; anything else in a body is ignored. Each form is decoded once: the envelope types
// look at the body's keys to tell its form apart.

/// The order webhook endpoint's two forms: the contract's JSON, or Lightspeed eCom's order
/// resource (`{"order":{...}}` with no top-level `event`).
enum OrderWebhookEnvelope: Decodable {
    case contract(OrderWebhookBody)
    case lightspeed(LightspeedOrderBody)

    init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self)
        if keys.contains(AnyKey("order")), !keys.contains(AnyKey("event")) {
            self = .lightspeed(try LightspeedOrderBody(from: decoder))
        } else {
            self = .contract(try OrderWebhookBody(from: decoder))
        }
    }
}

/// The contract's order webhook (README, CONTRACT.md).
struct OrderWebhookBody: Decodable {
    struct Item: Decodable {
        var sku: WebhookText?
        var quantity: Int?
        var tags: [WebhookText]?
        var categories: [WebhookText]?
    }
    struct Address: Decodable {
        var country: WebhookText
        var state: WebhookText?
    }
    var event: WebhookText
    var orderId: WebhookID
    var customerEmail: String
    var orderTotal: WebhookMoney
    var currency: WebhookText?
    var customerId: WebhookID?
    var customerName: WebhookText?
    var paymentId: WebhookID?
    var timestamp: WebhookTime?
    var lineItems: [Item]?
    var shippingAddress: Address?
    var customerTags: [WebhookText]?
}

/// Lightspeed eCom's order resource as its webhooks deliver it, where absent values are often
/// `false` (https://developers.lightspeedhq.com/ecom/endpoints/order/; the line items may be
/// embedded under `products.resource.embedded`).
struct LightspeedOrderBody: Decodable {
    struct Order: Decodable {
        struct Resource<Embedded: Decodable>: Decodable {
            var id: LenientText?
            var embedded: Embedded?

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: AnyKey.self)
                id = try? container.decodeIfPresent(LenientText.self, forKey: AnyKey("id"))
                embedded = try? container.decodeIfPresent(Embedded.self, forKey: AnyKey("embedded"))
            }
        }
        struct Relation<Embedded: Decodable>: Decodable {
            var resource: Resource<Embedded>?
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: AnyKey.self)
                resource = try? container.decodeIfPresent(Resource<Embedded>.self, forKey: AnyKey("resource"))
            }
        }
        struct Product: Decodable {
            var sku: LenientText?
            var articleCode: LenientText?
            var quantityOrdered: Int?
        }
        struct Country: Decodable { var code: LenientText? }
        struct RegionData: Decodable { var code: LenientText? }

        var id: WebhookID
        var email: String
        var firstname: LenientText?
        var lastname: LenientText?
        var priceIncl: WebhookMoney
        var currency: LenientText?
        var status: LenientText?
        var updatedAt: LenientText?
        var customer: Relation<IgnoredJSON>?
        var products: Relation<[Product]>?
        var addressShippingCountry: Country?
        var addressShippingRegionData: RegionData?

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            id = try c.decode(WebhookID.self, forKey: AnyKey("id"))
            email = try c.decode(String.self, forKey: AnyKey("email"))
            priceIncl = try c.decode(WebhookMoney.self, forKey: AnyKey("priceIncl"))
            // The rest is optional and Lightspeed writes `false` for "none" where an object
            // would be: read what is there, ignore what is not.
            firstname = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("firstname"))
            lastname = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("lastname"))
            currency = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("currency"))
            status = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("status"))
            updatedAt = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("updatedAt"))
            customer = try? c.decodeIfPresent(Relation<IgnoredJSON>.self, forKey: AnyKey("customer"))
            products = try? c.decodeIfPresent(Relation<[Product]>.self, forKey: AnyKey("products"))
            addressShippingCountry = try? c.decodeIfPresent(Country.self, forKey: AnyKey("addressShippingCountry"))
            addressShippingRegionData = try? c.decodeIfPresent(RegionData.self, forKey: AnyKey("addressShippingRegionData"))
        }
    }
    var order: Order
}

/// The decision endpoint's two forms: Veriff's decision (a `verification` object) or the
/// contract's short form.
enum DecisionEnvelope: Decodable {
    case veriff(VeriffDecisionBody)
    case short(ShortDecisionBody)

    init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self)
        if keys.contains(AnyKey("verification")) {
            self = .veriff(try VeriffDecisionBody(from: decoder))
        } else {
            self = .short(try ShortDecisionBody(from: decoder))
        }
    }
}

/// Veriff's decision webhook (https://devdocs.veriff.com/docs/decision-webhook). `person` and
/// `document` may be null, empty or absent, depending on the integration.
struct VeriffDecisionBody: Decodable {
    struct Person: Decodable {
        var dateOfBirth: LenientText?
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            dateOfBirth = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("dateOfBirth"))
        }
    }
    struct Document: Decodable {
        var validUntil: LenientText?
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            validUntil = try? c.decodeIfPresent(LenientText.self, forKey: AnyKey("validUntil"))
        }
    }
    struct Verification: Decodable {
        var id: WebhookID
        var attemptId: WebhookID?
        var status: WebhookText?
        var code: Int?
        var reason: WebhookText?
        var vendorData: WebhookID?
        var decisionTime: WebhookTime?
        var person: Person?
        var document: Document?

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            id = try c.decode(WebhookID.self, forKey: AnyKey("id"))
            attemptId = try c.decodeIfPresent(WebhookID.self, forKey: AnyKey("attemptId"))
            status = try c.decodeIfPresent(WebhookText.self, forKey: AnyKey("status"))
            code = try c.decodeIfPresent(Int.self, forKey: AnyKey("code"))
            reason = try c.decodeIfPresent(WebhookText.self, forKey: AnyKey("reason"))
            vendorData = try c.decodeIfPresent(WebhookID.self, forKey: AnyKey("vendorData"))
            decisionTime = try c.decodeIfPresent(WebhookTime.self, forKey: AnyKey("decisionTime"))
            person = try? c.decodeIfPresent(Person.self, forKey: AnyKey("person"))
            document = try? c.decodeIfPresent(Document.self, forKey: AnyKey("document"))
        }
    }
    var status: String?
    var verification: Verification
}

/// The contract's short form of a decision.
struct ShortDecisionBody: Decodable {
    var event: WebhookText?
    var id: WebhookID
    var status: WebhookText
    var orderId: WebhookID?
    var verificationId: WebhookID?
    var code: Int?
    var reason: WebhookText?
    var timestamp: WebhookTime?
    var dateOfBirth: LenientText?
    var documentValidUntil: LenientText?
}

/// Any key, for bodies read by hand.
struct AnyKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where K == AnyKey {
    func contains(_ key: String) -> Bool { contains(AnyKey(key)) }
}
