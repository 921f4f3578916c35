import Foundation
import VigilCore

/// Refunds through a Stripe-compatible API (POST {base}/v1/refunds,
/// https://docs.stripe.com/api/refunds/create): form-encoded, secret key as a bearer token, and
/// the task's idempotency key in `Idempotency-Key` (https://docs.stripe.com/api/idempotent_requests)
/// so every attempt of one refund task is the same refund at Stripe. `paymentId` names the
/// PaymentIntent (`pi_...`) or the Charge (`ch_...`) to refund.
struct StripeGateway: PaymentGateway {
    let http: ProviderHTTPClient
    let baseURL: String
    let apiKey: Secret

    var requiresPaymentReference: Bool { true }

    func refund(_ request: RefundRequest, call: ProviderCall) async throws -> ProviderReply<RefundResult> {
        let request = try request.check()
        guard let paymentId = request.paymentId else {
            throw ProviderError(provider: .payments, operation: .refund, kind: .permanent,
                                message: "the order has no paymentId to refund")
        }
        guard let minor = MinorUnits.exact(request.amount, currency: request.currency), minor > 0 else {
            throw ProviderError(provider: .payments, operation: .refund, kind: .permanent,
                                message: "refund of \(request.amount) \(request.currency ?? "") is not a whole number of the currency's smallest unit; refund it by hand")
        }
        let body = FormEncoding.encode(Self.fields(request, paymentId: paymentId, minorUnits: minor))
        let response = try await http.send(OutboundRequest(.POST, "\(baseURL)/v1/refunds", headers: [
            ("Authorization", "Bearer \(apiKey.value)"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Idempotency-Key", call.idempotencyKey),
        ], body: Data(body.utf8)), provider: .payments, operation: .refund)
        guard let object = ProviderJSON.object(response.body), let id = object["id"] as? String else {
            throw ProviderError(provider: .payments, operation: .refund, kind: .transient, status: response.status,
                                message: "unexpected answer (no refund id): \(response.snippet)")
        }
        // A refund can be refused after it is created (https://docs.stripe.com/refunds#failed-refunds).
        if let status = object["status"] as? String, status == "failed" || status == "canceled" {
            throw ProviderError(provider: .payments, operation: .refund, kind: .permanent, status: response.status,
                                message: "refund \(id) is \(status)")
        }
        return try ProviderReply(RefundResult(refundId: id), provider: .payments, operation: .refund, mode: .live,
                                 request: request)
    }

    static func fields(_ request: RefundRequest, paymentId: String, minorUnits: Int64) -> [(String, String)] {
        var fields: [(String, String)] = [(paymentId.hasPrefix("ch_") ? "charge" : "payment_intent", paymentId)]
        fields.append(("amount", String(minorUnits)))
        fields.append(("reason", "requested_by_customer"))
        fields.append(("metadata[order_id]", request.orderId))
        fields.append(("metadata[vigil_reason]", request.reason))
        return fields
    }

    /// GET /v1/balance is read-only and needs a valid secret key.
    func check() async -> ProviderCheck {
        .from(await Result {
            try await http.send(OutboundRequest(.GET, "\(baseURL)/v1/balance", headers: [("Authorization", "Bearer \(apiKey.value)")]),
                                provider: .payments, operation: .check, maxAttempts: 1)
        })
    }
}

/// Amounts in the currency's smallest unit, as Stripe expects
/// (https://docs.stripe.com/currencies#zero-decimal).
enum MinorUnits {
    static let zeroDecimal: Set<String> = ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
                                           "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
    static let threeDecimal: Set<String> = ["BHD", "JOD", "KWD", "OMR", "TND"]

    static func amount(_ value: Decimal, currency: String?) -> Int64 {
        let code = currency?.uppercased() ?? ""
        let exponent = zeroDecimal.contains(code) ? 0 : threeDecimal.contains(code) ? 3 : 2
        var scaled = value * pow(Decimal(10), exponent)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .bankers)
        return NSDecimalNumber(decimal: rounded).int64Value
    }

    /// The amount in minor units when it is a whole number of them within Int64's range (bounded
    /// money always is); nil when rounding would change what is refunded (0.001 USD).
    static func exact(_ value: Decimal, currency: String?) -> Int64? {
        guard value.isFinite, value >= 0, value <= Money.maximum else { return nil }
        let code = currency?.uppercased() ?? ""
        let exponent = zeroDecimal.contains(code) ? 0 : threeDecimal.contains(code) ? 3 : 2
        var scaled = value * pow(Decimal(10), exponent)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard rounded == scaled else { return nil }
        return NSDecimalNumber(decimal: rounded).int64Value
    }
}

/// application/x-www-form-urlencoded, as the WHATWG URL standard defines it.
enum FormEncoding {
    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._*")

    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        (text.addingPercentEncoding(withAllowedCharacters: unreserved.union(CharacterSet(charactersIn: " "))) ?? "")
            .replacingOccurrences(of: " ", with: "+")
    }

    static func decode(_ body: String) -> [(String, String)] {
        body.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }
}
