import Crypto
import Foundation

/// The customer page's links. A session keeps a random link id; the link's token is that id and
/// a keyed signature of it, so a database read alone does not yield working links, and a token
/// cannot be guessed or forged without the data key.
public struct CustomerLinks: Sendable {
    private let key: [UInt8]

    /// The links of a development setup with no `VIGIL_DATA_KEY` (as `CustomerKeys.development`).
    public static let development = CustomerLinks(secret: Secret("vigil-development-data-key-not-for-production-use"))

    public init(secret: Secret) {
        key = DerivedKey.bytes(from: secret, purpose: "vigil customer links")
    }

    /// A fresh link id: 128 random bits, hex.
    public static func newId() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// The token for a link id, as it appears in `/v/{token}`.
    public func token(linkId: String) -> String {
        linkId + "." + signature(linkId)
    }

    /// The link id a token carries, if its signature is right (checked in constant time).
    public func linkId(token: String) -> String? {
        guard token.utf8.count <= 200, let dot = token.firstIndex(of: ".") else { return nil }
        let id = String(token[..<dot]), presented = String(token[token.index(after: dot)...])
        guard id.utf8.count == 32, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return ConstantTime.equals(presented, signature(id)) ? id : nil
    }

    private func signature(_ id: String) -> String {
        // 128 bits of the HMAC: unguessable, and a short enough link for an email.
        String(Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(("link:" + id).utf8), using: SymmetricKey(data: key))).prefix(32))
    }
}
