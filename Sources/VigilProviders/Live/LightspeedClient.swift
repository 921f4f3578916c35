import Foundation
import VigilCore

/// Lightspeed eCom (C-Series), the shop platform: after a decision or an expiry the order is
/// released (its status set to the configured "ready to ship" status) or annotated (the note
/// written to the order's internal memo), through the REST API's order resource
/// (PUT {base}/orders/{id}.json, `{"order":{...}}`, HTTP Basic with the API key and secret;
/// https://developers.lightspeedhq.com/ecom/endpoints/order/). `base` is the shop's cluster and
/// language, e.g. https://api.webshopapp.com/en.
struct LightspeedClient: ShopPlatform {
    let http: ProviderHTTPClient
    let baseURL: String
    /// `key:secret`, sent as HTTP Basic credentials.
    let credentials: Secret
    let releaseStatus: String

    func updateOrder(_ update: OrderUpdate, call: ProviderCall) async throws -> ProviderReply<OrderUpdated> {
        let fields: [String: Any] = update.action == .release ? ["status": releaseStatus] : ["memo": update.note]
        let body = try ProviderJSON.encode(["order": fields])
        let id = update.orderId.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? update.orderId
        let response = try await http.send(OutboundRequest(.PUT, "\(baseURL)/orders/\(id).json", headers: [
            ("Authorization", authorization),
            ("Content-Type", "application/json"),
        ], body: body), provider: .lightspeed, operation: .updateOrder)
        return try ProviderReply(OrderUpdated(status: response.status), provider: .lightspeed, operation: .updateOrder,
                                 mode: .live, request: update)
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
