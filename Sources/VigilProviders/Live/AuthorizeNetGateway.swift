import Foundation
import VigilCore

/// Refunds through Authorize.Net's JSON API (POST {base}/xml/v1/request.api,
/// https://developer.authorize.net/api/reference/index.html). As Authorize.Net documents, an
/// unsettled transaction is voided and a settled one refunded, so the transaction's status is
/// read first (`getTransactionDetailsRequest`), then `voidTransaction` or `refundTransaction`
/// (the latter needs the card's last four digits, which the details carry).
///
/// Authorize.Net has no idempotency header. Retries stay single because: a voided transaction
/// reads as `voided` and is not voided again; refunds carry `refId` and a duplicate window
/// (`duplicateWindow`, 8 hours) inside which Authorize.Net refuses a repeat as a duplicate
/// (response reason 11), which is taken as the refund already made.
///
/// The API's JSON is translated to XML on their side, so element order matters: objects are
/// written in the schema's order, not sorted.
struct AuthorizeNetGateway: PaymentGateway {
    let http: ProviderHTTPClient
    let baseURL: String
    let loginId: Secret
    let transactionKey: Secret

    var requiresPaymentReference: Bool { true }

    static let voidable: Set<String> = ["authorizedPendingCapture", "capturedPendingSettlement"]

    func refund(_ request: RefundRequest, call: ProviderCall) async throws -> ProviderReply<RefundResult> {
        let request = try request.check()
        guard let transId = request.paymentId else {
            throw failure(.permanent, "the order has no paymentId (transaction id) to refund")
        }
        let details = try await send("getTransactionDetailsRequest", [("transId", transId)], operation: .transactionDetails)
        guard let transaction = details["transaction"] as? [String: Any],
              let status = transaction["transactionStatus"] as? String else {
            throw failure(.transient, "transaction details without a status")
        }
        let result: RefundResult
        if status == "voided" {
            result = RefundResult(refundId: "void:\(transId)")
        } else if Self.voidable.contains(status) {
            let answer = try await createTransaction([
                ("transactionType", "voidTransaction"),
                ("refTransId", transId),
            ], call: call)
            result = RefundResult(refundId: "void:\(answer ?? transId)")
        } else if status == "settledSuccessfully" {
            let payment = transaction["payment"] as? [String: Any]
            let card = payment?["creditCard"] as? [String: Any]
            guard let masked = card?["cardNumber"] as? String, masked.count >= 4 else {
                throw failure(.permanent, "the settled transaction was not paid by card; refund it by hand")
            }
            let answer = try await createTransaction([
                ("transactionType", "refundTransaction"),
                ("amount", Self.amount(request.amount)),
                ("payment", OrderedJSON.object([("creditCard", OrderedJSON.object([
                    ("cardNumber", String(masked.suffix(4))), ("expirationDate", "XXXX"),
                ]))])),
                ("refTransId", transId),
                ("transactionSettings", OrderedJSON.object([("setting", [OrderedJSON.object([
                    ("settingName", "duplicateWindow"), ("settingValue", "28800"),
                ])])])),
            ], call: call)
            result = RefundResult(refundId: answer ?? "refund-of:\(transId)")
        } else {
            throw failure(.permanent, "transaction \(transId) cannot be refunded while its status is \(status)")
        }
        return try ProviderReply(result, provider: .payments, operation: .refund, mode: .live, request: request)
    }

    /// Returns the new transaction id; nil when Authorize.Net reports the refund as a duplicate
    /// of one already made.
    private func createTransaction(_ transaction: [(String, Any)], call: ProviderCall) async throws -> String? {
        let answer = try await send("createTransactionRequest", [
            ("refId", String(call.idempotencyKey.suffix(20))),
            ("transactionRequest", OrderedJSON.object(transaction)),
        ], operation: .refund, acceptErrors: true)
        let response = answer["transactionResponse"] as? [String: Any]
        let errors = response?["errors"] as? [[String: Any]] ?? []
        if errors.contains(where: { ProviderJSON.string($0["errorCode"]) == "11" }) {
            return nil
        }
        if ProviderJSON.string(response?["responseCode"]) == "1", let id = ProviderJSON.string(response?["transId"]), id != "0" {
            return id
        }
        if let first = errors.first {
            throw failure(.permanent, "\(ProviderJSON.string(first["errorCode"]) ?? "?"): \(first["errorText"] as? String ?? "refused")")
        }
        throw failure(.permanent, Self.messages(answer) ?? "the transaction was not approved")
    }

    /// Sends one API request; an `Error` result code is an error unless `acceptErrors` (the
    /// transaction response then says why).
    private func send(_ root: String, _ fields: [(String, Any)], operation: ProviderOperation, acceptErrors: Bool = false,
                      maxAttempts: Int? = nil) async throws -> [String: Any] {
        let body = OrderedJSON.encode(OrderedJSON.object([(root, OrderedJSON.object([
            ("merchantAuthentication", OrderedJSON.object([("name", loginId.value), ("transactionKey", transactionKey.value)])),
        ] + fields))]))
        let response = try await http.send(OutboundRequest(.POST, "\(baseURL)/xml/v1/request.api", headers: [
            ("Content-Type", "application/json"),
        ], body: Data(body.utf8), bodySecrets: [loginId, transactionKey]), provider: .payments, operation: operation,
        maxAttempts: maxAttempts)
        guard let object = ProviderJSON.object(response.body) else {
            throw failure(.transient, "unreadable answer: \(response.snippet)")
        }
        let messages = object["messages"] as? [String: Any]
        if messages?["resultCode"] as? String != "Ok" {
            let code = ((messages?["message"] as? [[String: Any]])?.first?["code"] as? String) ?? ""
            // E00007: authentication failed; E00040: record not found. Neither improves on retry.
            if code == "E00007" { throw failure(.permanent, "credentials refused (\(code))") }
            if !acceptErrors { throw failure(.permanent, Self.messages(object) ?? "request refused") }
        }
        return object
    }

    private func failure(_ kind: ProviderError.Kind, _ message: String) -> ProviderError {
        ProviderError(provider: .payments, operation: .refund, kind: kind, message: message)
    }

    static func messages(_ object: [String: Any]) -> String? {
        guard let list = (object["messages"] as? [String: Any])?["message"] as? [[String: Any]], !list.isEmpty else { return nil }
        return list.map { "\($0["code"] as? String ?? "?"): \($0["text"] as? String ?? "")" }.joined(separator: "; ")
    }

    static func amount(_ value: Decimal) -> String {
        var value = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 2, .bankers)
        let formatter = NumberFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.minimumFractionDigits = 2
        formatter.maximumFractionDigits = 2
        formatter.usesGroupingSeparator = false
        return formatter.string(from: NSDecimalNumber(decimal: rounded)) ?? "\(rounded)"
    }

    /// authenticateTestRequest checks the login id and transaction key and changes nothing.
    func check() async -> ProviderCheck {
        do {
            _ = try await send("authenticateTestRequest", [], operation: .check, maxAttempts: 1)
            return .ok
        } catch {
            return .from(.failure(error))
        }
    }
}

/// JSON whose objects keep the order they are written in.
enum OrderedJSON {
    struct Object { var fields: [(String, Any)] }

    static func object(_ fields: [(String, Any)]) -> Object { Object(fields: fields) }

    static func encode(_ value: Any) -> String {
        switch value {
        case let object as Object:
            return "{" + object.fields.map { "\(quote($0.0)):\(encode($0.1))" }.joined(separator: ",") + "}"
        case let array as [Any]:
            return "[" + array.map(encode).joined(separator: ",") + "]"
        case let text as String:
            return quote(text)
        default:
            return quote(String(describing: value))
        }
    }

    static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
