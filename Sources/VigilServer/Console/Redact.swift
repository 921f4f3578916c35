import Foundation

/// JSON shown on the console with personal data and secrets taken out: values of keys that name
/// a person, their contact, their document or a credential are replaced.
enum Redact {
    static let sensitive = ["email", "name", "birth", "dob", "address", "phone", "document", "person", "token",
                            "secret", "password", "authorization", "signature", "vendordata", "ip"]
    /// Keys too short to match by substring: an email's recipients.
    static let sensitiveExact: Set<String> = ["to", "cc", "bcc", "replyto"]

    static func json(_ text: String) -> String {
        guard let data = text.data(using: .utf8),
              let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return "(not JSON; not shown)"
        }
        let cleaned = redact(value)
        guard let out = try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) else {
            return "(not shown)"
        }
        let string = String(decoding: out, as: UTF8.self)
        return string.count > 2000 ? String(string.prefix(2000)) + " …" : string
    }

    static func redact(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            var out: [String: Any] = [:]
            for (key, inner) in object {
                let lower = key.lowercased()
                let hidden = sensitiveExact.contains(lower) || sensitive.contains(where: { lower.contains($0) })
                out[key] = hidden ? redactAll(inner) : redact(inner)
            }
            return out
        }
        if let array = value as? [Any] { return array.map(redact) }
        return value
    }

    /// Everything under a sensitive key: structure kept, every value replaced.
    static func redactAll(_ value: Any) -> Any {
        if let object = value as? [String: Any] { return object.mapValues(redactAll) }
        if let array = value as? [Any] { return array.map(redactAll) }
        return "[redacted]"
    }
}
