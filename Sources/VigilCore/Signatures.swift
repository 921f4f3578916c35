import Crypto
import Foundation

/// A secret value that never prints itself: `description` is redacted, so a secret placed in
/// a log line or an error by accident shows as `<redacted>`.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// HMAC-SHA256 webhook signatures: hex digest of the raw body, several secrets accepted so
/// they can be rotated without downtime.
public enum WebhookSignature {
    /// Hex HMAC-SHA256 of `body` under `secret`.
    public static func sign<Body: DataProtocol>(_ body: Body, secret: Secret) -> String {
        let key = SymmetricKey(data: Data(secret.value.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// True when `signature` (hex, optionally prefixed `sha256=`) is a valid HMAC of `body` under
    /// any of `secrets`. Each comparison is constant-time, and every secret is tried so the time
    /// taken does not reveal which one matched.
    public static func isValid<Body: DataProtocol>(_ signature: String, body: Body, secrets: [Secret]) -> Bool {
        var hex = signature.trimmingCharacters(in: .whitespaces)
        if hex.lowercased().hasPrefix("sha256=") { hex.removeFirst("sha256=".count) }
        guard let mac = Hex.decode(hex), mac.count == SHA256.byteCount else { return false }
        var valid = false
        for secret in secrets {
            let key = SymmetricKey(data: Data(secret.value.utf8))
            if HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key) {
                valid = true
            }
        }
        return valid
    }
}

/// Lightspeed eCom's own webhook signature: `X-Signature` is the hex MD5 of the raw body followed
/// by the API secret. MD5 is the platform's choice, not ours; it is accepted only for bodies in
/// the platform's native format and compared in constant time like every other signature.
public enum LightspeedSignature {
    public static func sign(_ body: Data, secret: Secret) -> String {
        Hex.encode(Insecure.MD5.hash(data: body + Data(secret.value.utf8)))
    }

    public static func isValid(_ signature: String, body: Data, secrets: [Secret]) -> Bool {
        guard let presented = Hex.decode(signature.trimmingCharacters(in: .whitespaces)),
              presented.count == Insecure.MD5.byteCount else { return false }
        var valid = false
        for secret in secrets {
            let expected = Array(Insecure.MD5.hash(data: body + Data(secret.value.utf8)))
            var diff: UInt8 = 0
            for i in 0..<expected.count { diff |= expected[i] ^ presented[i] }
            if diff == 0 { valid = true }
        }
        return valid
    }
}

/// Constant-time equality for tokens: both sides are hashed first so the comparison takes the
/// same time whatever their lengths.
public enum ConstantTime {
    public static func equals(_ a: String, _ b: String) -> Bool {
        let da = Array(SHA256.hash(data: Data(a.utf8)))
        let db = Array(SHA256.hash(data: Data(b.utf8)))
        var diff: UInt8 = 0
        for i in 0..<da.count { diff |= da[i] ^ db[i] }
        return diff == 0
    }

    /// Index of the token in `candidates` that equals `presented`, checking all of them.
    public static func match(_ presented: String, among candidates: [Secret]) -> Int? {
        var found: Int?
        for (index, candidate) in candidates.enumerated() where equals(presented, candidate.value) {
            found = found ?? index
        }
        return found
    }
}

public enum Hex {
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Stable idempotency keys for outbound calls, derived from the task that makes them.
public enum IdempotencyKey {
    public static func forTask(named name: String) -> String {
        "vigil_" + Hex.encode(SHA256.hash(data: Data(name.utf8)).prefix(20))
    }

    /// A UUID-shaped identifier derived from `key` (SHA-256), the same for the same key.
    public static func uuid(from key: String) -> String {
        let h = Array(Hex.encode(SHA256.hash(data: Data(key.utf8)).prefix(16)))
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String($0) }.joined(separator: "-")
    }
}

extension Secret {
    /// A public name for this secret: the first 12 hex digits of its SHA-256. Enough to tell
    /// rotated tokens apart in an audit log; useless for recovering the token.
    public var publicID: String {
        String(Hex.encode(Data(SHA256.hash(data: Data(value.utf8)))).prefix(12))
    }
}

/// A key made of several parts that no choice of parts can make collide with another: the parts
/// as a JSON array of strings (`["order.created","x:B1"]`). Joining with a separator would let
/// `("a:b", "c")` and `("a", "b:c")` share a key.
public enum CompositeKey {
    public static func of(_ parts: String...) -> String { of(parts) }

    public static func of(_ parts: [String]) -> String {
        var out = "["
        for (index, part) in parts.enumerated() {
            if index > 0 { out += "," }
            JSONCoding.appendString(part, to: &out)
        }
        return out + "]"
    }
}

/// Keyed hashes that stand for a customer without keeping their email or shop id in clear:
/// HMAC-SHA256 under a secret key, so the same customer always gets the same key and nobody
/// without the secret can test an email against it.
public struct CustomerKeys: Sendable {
    /// The derived key's bytes (SymmetricKey itself is not Sendable).
    private let key: [UInt8]

    /// The key of a development setup with no `VIGIL_DATA_KEY`: fixed, so hashes survive restarts,
    /// and never to be used in production (configuration refuses to start without a key there).
    public static let development = CustomerKeys(secret: Secret("vigil-development-data-key-not-for-production-use"))

    public init(secret: Secret) {
        key = DerivedKey.bytes(from: secret, purpose: "vigil customer keys")
    }

    /// An email as people write it differently: trimmed and lowercased.
    public static func normalise(email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    public func email(_ email: String) -> String {
        "email:" + digest("email:" + Self.normalise(email: email))
    }

    public func customerId(_ id: String) -> String {
        "id:" + digest("id:" + id)
    }

    /// The keys a customer is remembered and looked up under: the shop's customer id first.
    public func keys(customerId: String?, email: String) -> [String] {
        (customerId.map { [self.customerId($0)] } ?? []) + [self.email(email)]
    }

    private func digest(_ text: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: key)))
    }
}

/// A key of its own for each use of one secret (HKDF-SHA256), so its uses never share a key.
enum DerivedKey {
    static func bytes(from secret: Secret, purpose: String) -> [UInt8] {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: Data(secret.value.utf8)),
                               info: Data(purpose.utf8), outputByteCount: 32).withUnsafeBytes { Array($0) }
    }
}
