import Foundation
import VigilCore

/// Veriff, the ID provider.
///
/// Creating a session follows Veriff's "Create verification session" (POST {base}/v1/sessions,
/// https://devdocs.veriff.com/docs/how-to-generate-sessions-manually and
/// https://devdocs.veriff.com/apidocs/v1sessions): a JSON `verification` object, the integration's
/// API key in `X-AUTH-CLIENT`, and `X-HMAC-SIGNATURE`, the hex HMAC-SHA256 of the exact body
/// bytes under the integration's shared secret key. `vendorData` carries the order id so the
/// decision webhook names the order; the answer's `verification.id` and `verification.url` are
/// stored on the session.
struct VeriffClient: IdentityVerifier {
    let http: ProviderHTTPClient
    let baseURL: String
    let apiKey: Secret
    let sharedSecret: Secret
    let callbackURL: String?

    func createSession(_ request: VerificationRequest, call: ProviderCall) async throws -> ProviderReply<VerificationSessionRef> {
        var verification: [String: Any] = ["vendorData": request.orderId]
        if let callbackURL { verification["callback"] = callbackURL }
        if let name = request.customerName {
            let parts = name.split(separator: " ", maxSplits: 1).map(String.init)
            var person: [String: Any] = ["firstName": parts[0]]
            if parts.count > 1 { person["lastName"] = parts[1] }
            verification["person"] = person
        }
        let body = try ProviderJSON.encode(["verification": verification])
        let response = try await http.send(OutboundRequest(.POST, "\(baseURL)/v1/sessions", headers: [
            ("Content-Type", "application/json"),
            ("X-AUTH-CLIENT", apiKey.value),
            ("X-HMAC-SIGNATURE", WebhookSignature.sign(body, secret: sharedSecret)),
        ], body: body), provider: .veriff, operation: .createSession)
        guard let object = ProviderJSON.object(response.body), object["status"] as? String == "success",
              let verificationObject = object["verification"] as? [String: Any],
              let id = verificationObject["id"] as? String, !id.isEmpty,
              let url = verificationObject["url"] as? String, !url.isEmpty else {
            throw ProviderError(provider: .veriff, operation: .createSession, kind: .transient, status: response.status,
                                message: "unexpected answer (no verification id and url): \(response.snippet)")
        }
        return try ProviderReply(VerificationSessionRef(id: id, url: url), provider: .veriff, operation: .createSession,
                                 mode: .live, request: request)
    }

    /// Veriff offers no read-only endpoint that checks an API key without a session id, so the
    /// check is that the credentials are configured; a wrong key shows on the first session.
    func check() async -> ProviderCheck { .ok }
}
