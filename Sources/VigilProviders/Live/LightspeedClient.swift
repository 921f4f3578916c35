import Foundation
import VigilCore

/// Lightspeed eCom (C-Series), the shop platform, through the REST API's order resource
/// (https://developers.lightspeedhq.com/ecom/endpoints/order/; `{"order":{...}}`, HTTP Basic with
/// the API key and secret; `base` is the shop's cluster and language, e.g.
/// https://api.webshopapp.com/en):
/// - hold: `PUT /orders/{id}.json` with the hold status (`on_hold`), so the order is not fulfilled
/// - release: the release status (`off_hold`, Lightspeed's write-only status that lifts a hold)
/// - cancel: status `cancelled` with the reason in the internal `memo` (the API offers no restock)
/// - annotate: the note in `memo`
/// - payments: `GET /orders/{id}.json`. Lightspeed documents no payments endpoint and no gateway
///   transaction field: payment apps keep their transaction in `paymentData`, whose shape is the
///   app's. Vigil reads a `payments` or `transactions` list of `{id|reference|transactionId,
///   amount}` there, or else one reference under a usual key (`transactionId`, `paymentIntent`,
///   `charge`, ...) for the order's total; an order not `paid` or `partially_paid` has none.
struct LightspeedClient: ShopPlatform {
    let http: ProviderHTTPClient
    let baseURL: String
    /// `key:secret`, sent as HTTP Basic credentials.
    let credentials: Secret
    let holdStatus: String
    let releaseStatus: String

    func updateOrder(_ update: OrderUpdate, call: ProviderCall) async throws -> ProviderReply<OrderUpdated> {
        let fields: [String: Any]
        switch update.action {
        case .hold: fields = ["status": holdStatus]
        case .release: fields = ["status": releaseStatus]
        case .cancel: fields = ["status": "cancelled", "memo": update.note]
        case .annotate: fields = ["memo": update.note]
        }
        let body = try ProviderJSON.encode(["order": fields])
        let response = try await http.send(OutboundRequest(.PUT, "\(baseURL)/orders/\(Self.path(update.orderId)).json", headers: [
            ("Authorization", authorization),
            ("Content-Type", "application/json"),
        ], body: body), provider: .lightspeed, operation: .updateOrder)
        return try ProviderReply(OrderUpdated(status: response.status), provider: .lightspeed, operation: .updateOrder,
                                 mode: .live, request: update)
    }

    func payments(orderId: String, orderTotal: Decimal, currency: String?, call: ProviderCall) async throws -> ProviderReply<ShopPayments> {
        struct Query: Encodable { var orderId: String }
        let response = try await http.send(OutboundRequest(.GET, "\(baseURL)/orders/\(Self.path(orderId)).json", headers: [
            ("Authorization", authorization),
        ]), provider: .lightspeed, operation: .listPayments)
        guard let order = ProviderJSON.object(response.body)?["order"] as? [String: Any] else {
            throw ProviderError(provider: .lightspeed, operation: .listPayments, kind: .transient, status: response.status,
                                message: "unexpected answer (no order): \(response.snippet)")
        }
        return try ProviderReply(ShopPayments(payments: LightspeedPayments.parse(order, total: orderTotal, currency: currency)),
                                 provider: .lightspeed, operation: .listPayments, mode: .live, request: Query(orderId: orderId))
    }

    static func path(_ orderId: String) -> String {
        orderId.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? orderId
    }

    var authorization: String { "Basic " + Data(credentials.value.utf8).base64EncodedString() }

    /// GET /shop.json reads the shop's own record: read-only, and refused without valid credentials.
    func check() async -> ProviderCheck {
        .from(await Result {
            try await http.send(OutboundRequest(.GET, "\(baseURL)/shop.json", headers: [("Authorization", authorization)]),
                                provider: .lightspeed, operation: .check, maxAttempts: 1)
        })
    }
}

/// The payments in a Lightspeed order resource. Lightspeed documents `paymentData` only as the
/// payment app's own data, so the reference is looked for under the names payment apps use.
public enum LightspeedPayments {
    static let referenceKeys = ["transactionId", "transaction_id", "paymentIntent", "payment_intent", "paymentIntentId",
                                "charge", "chargeId", "tid", "reference", "id"]

    /// The payments an order resource names, never more in all than `total`: nothing unless the
    /// order is paid or partly paid; each entry needs a reference of at most 200 bytes and a
    /// positive amount (a single reference without an amount is taken to cover the total).
    public static func parse(_ order: [String: Any], total: Decimal, currency: String?) -> [ShopPayment] {
        guard let status = order["paymentStatus"] as? String, ["paid", "partially_paid"].contains(status),
              let data = order["paymentData"] as? [String: Any] else { return [] }
        func reference(_ object: [String: Any]) -> String? {
            referenceKeys.lazy.compactMap { ProviderJSON.string(object[$0]) }.first { !$0.isEmpty && $0.utf8.count <= 200 }
        }
        func amount(_ value: Any?) -> Decimal? {
            ProviderJSON.string(value).flatMap { Money.parse($0) ?? Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) }
                .flatMap { Money.isValid($0) ? $0 : nil }
        }
        var found: [ShopPayment] = []
        if let list = (data["payments"] ?? data["transactions"]) as? [[String: Any]] {
            for entry in list {
                guard let ref = reference(entry), let value = amount(entry["amount"]), value > 0 else { continue }
                found.append(ShopPayment(reference: ref, amount: value, currency: currency))
            }
        } else if let ref = reference(data) {
            found.append(ShopPayment(reference: ref, amount: amount(data["amount"]) ?? total, currency: currency))
        }
        return RefundPlan.capped(found, total: total)
    }
}
