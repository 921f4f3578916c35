import Crypto
import Foundation

/// Personal data at rest: customers' emails and names, and raw payloads that carry them, are
/// sealed with AES-256-GCM before they reach the database, so a copied database file, dump or
/// backup does not hold them in clear.
///
/// A sealed value reads `enc:v1:<key id>:<base64 of nonce, ciphertext and tag>`. The key id (the
/// first 8 hex digits of the key's SHA-256) names the key of the ring that opens it, so keys
/// rotate without downtime: new values are sealed under the current key, older ones still open
/// under the previous keys until `vigil reencrypt` has rewritten them. Each value is bound to its
/// place (column and row) as associated data, so a sealed value copied into another row does not
/// open. The empty string stays empty: it is how an erased email reads.
public struct FieldCipher: Sendable {
    /// One AES-256 key and its id. Printed, it shows only its id.
    public struct Key: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public var description: String { "<key \(id)>" }
        public var debugDescription: String { description }
        public var customMirror: Mirror { Mirror(self, children: ["id": id]) }

        public let id: String
        /// The key's bytes (SymmetricKey itself is not Sendable).
        let bytes: [UInt8]

        init(bytes: [UInt8]) {
            self.bytes = bytes
            id = String(Hex.encode(SHA256.hash(data: bytes)).prefix(8))
        }

        /// The key derived from the data key (`VIGIL_DATA_KEY`), used when no key of its own is set.
        public static func derived(from secret: Secret) -> Key {
            Key(bytes: DerivedKey.bytes(from: secret, purpose: "vigil field encryption"))
        }

        /// A key as configured: 32 random bytes, base64 (`openssl rand -base64 32`) or 64 hex digits.
        public init(text: String) throws(FieldCipherError) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.utf8.count == 64, let bytes = Hex.decode(trimmed) {
                self.init(bytes: bytes)
            } else if let data = Data(base64Encoded: trimmed), data.count == 32 {
                self.init(bytes: Array(data))
            } else {
                throw FieldCipherError("an encryption key must be 32 random bytes as base64 or 64 hex digits (openssl rand -base64 32)")
            }
        }
    }

    /// What every sealed value starts with.
    public static let prefix = "enc:v1:"

    /// The key new values are sealed under.
    public let current: Key
    /// Every key that opens values: the current one first, then the previous ones.
    public let ring: [Key]

    public init(current: Key, previous: [Key] = []) {
        self.current = current
        var ring = [current]
        for key in previous where !ring.contains(where: { $0.id == key.id }) { ring.append(key) }
        self.ring = ring
    }

    /// The cipher of a development setup with no `VIGIL_DATA_KEY` (as `CustomerKeys.development`).
    public static let development = FieldCipher(
        current: .derived(from: Secret("vigil-development-data-key-not-for-production-use")))

    /// `plain` sealed under the current key, bound to `context` (its column and row).
    public func seal(_ plain: String, context: String) throws(FieldCipherError) -> String {
        guard !plain.isEmpty else { return "" }
        // AES-GCM with a random 96-bit nonce: safe for far more values than one database holds.
        guard let box = try? AES.GCM.seal(Data(plain.utf8), using: SymmetricKey(data: current.bytes),
                                          authenticating: Data(context.utf8)),
              let combined = box.combined
        else { throw FieldCipherError("AES-GCM could not seal a value (\(context))") }
        return Self.prefix + current.id + ":" + combined.base64EncodedString()
    }


    /// The plain value of a stored one. A value not sealed (written before encryption) reads as it is.
    public func open(_ stored: String, context: String) throws(FieldCipherError) -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        let rest = stored.dropFirst(Self.prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { throw FieldCipherError("a sealed value is malformed (\(context))") }
        let id = String(rest[..<colon])
        guard let key = ring.first(where: { $0.id == id }) else {
            throw FieldCipherError("a value (\(context)) is sealed under key \(id), which is not configured: "
                + "add the key that was current when it was written to VIGIL_ENCRYPTION_KEY_PREVIOUS")
        }
        guard let combined = Data(base64Encoded: String(rest[rest.index(after: colon)...])),
              let box = try? AES.GCM.SealedBox(combined: combined),
              let plain = try? AES.GCM.open(box, using: SymmetricKey(data: key.bytes), authenticating: Data(context.utf8)),
              let text = String(data: plain, encoding: .utf8)
        else { throw FieldCipherError("a sealed value (\(context)) does not open under key \(id): it was altered or moved") }
        return text
    }


    /// Whether a stored value needs no rewrite: empty, or sealed under the current key.
    public func isCurrent(_ stored: String) -> Bool {
        stored.isEmpty || stored.hasPrefix(Self.prefix + current.id + ":")
    }
}

public struct FieldCipherError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
