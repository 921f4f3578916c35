import Foundation
import VigilCore

/// SendGrid, for email, through the v3 Mail Send API (POST {base}/v3/mail/send,
/// https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send): bearer API key, one
/// dynamic template per message kind with the message's data as `dynamic_template_data`, and
/// `custom_args` carrying the order id and idempotency key so event webhooks and the activity
/// feed tie each message to its order. SendGrid answers 202 Accepted.
struct SendGridClient: EmailSender {
    let http: ProviderHTTPClient
    let baseURL: String
    let apiKey: Secret
    let from: String
    let templates: [EmailKind: String]

    func send(_ message: EmailMessage, call: ProviderCall) async throws -> ProviderReply<EmailAccepted> {
        guard let template = templates[message.kind] ?? (message.kind == .resubmission ? templates[.verificationLink] : nil) else {
            throw ProviderError(provider: .sendgrid, operation: .sendEmail, kind: .permanent,
                                message: "no template configured for \(message.kind.rawValue) emails")
        }
        let body = try ProviderJSON.encode(Self.body(message, template: template, from: from, call: call))
        let response = try await http.send(OutboundRequest(.POST, "\(baseURL)/v3/mail/send", headers: [
            ("Authorization", "Bearer \(apiKey.value)"),
            ("Content-Type", "application/json"),
        ], body: body), provider: .sendgrid, operation: .sendEmail)
        return try ProviderReply(EmailAccepted(status: response.status), provider: .sendgrid, operation: .sendEmail,
                                 mode: .live, request: message)
    }

    static func body(_ message: EmailMessage, template: String, from: String, call: ProviderCall) -> [String: Any] {
        var recipient: [String: Any] = ["email": message.to]
        if let name = message.customerName { recipient["name"] = name }
        var data: [String: Any] = ["order_id": message.orderId, "kind": message.kind.rawValue]
        if let name = message.customerName { data["customer_name"] = name }
        if let url = message.verificationURL { data["verification_url"] = url }
        if let deadline = message.deadline { data["deadline"] = Timestamp.string(deadline) }
        return [
            "from": ["email": from],
            "template_id": template,
            "personalizations": [["to": [recipient], "dynamic_template_data": data]],
            // custom_args values must be strings.
            "custom_args": ["order_id": message.orderId, "idempotency_key": call.idempotencyKey],
        ]
    }

    /// GET /v3/scopes is read-only and lists what the key may do; it must include mail.send.
    func check() async -> ProviderCheck {
        let result = await Result {
            try await http.send(OutboundRequest(.GET, "\(baseURL)/v3/scopes", headers: [("Authorization", "Bearer \(apiKey.value)")]),
                                provider: .sendgrid, operation: .check, maxAttempts: 1)
        }
        if case .success(let response) = result {
            let scopes = ProviderJSON.object(response.body)?["scopes"] as? [String] ?? []
            return scopes.contains("mail.send") ? .ok : .fail("the API key lacks the mail.send scope")
        }
        return .from(result)
    }
}

extension Result where Failure == any Error {
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
