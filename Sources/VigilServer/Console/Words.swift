import Foundation

/// Times as people read them on the console and the customer page.
enum Words {
    /// "in 2 h 5 min", "3 d ago", "now".
    static func relative(_ date: Date, from now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        let text = span(abs(seconds))
        if abs(seconds) < 60 { return "now" }
        return seconds > 0 ? "in " + text : text + " ago"
    }

    /// "2 d 3 h", "5 h 12 min", "14 min": the two largest units.
    static func span(_ seconds: TimeInterval) -> String {
        let total = Int(min(seconds, 1e9))
        let (d, h, m) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60)
        if d > 0 { return h > 0 ? "\(d) d \(h) h" : "\(d) d" }
        if h > 0 { return m > 0 ? "\(h) h \(m) min" : "\(h) h" }
        return "\(max(m, 1)) min"
    }

    /// "Thursday 3 December at 14:00 (UTC)", in the shop's time zone.
    static func deadline(_ date: Date, timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = timeZone
        formatter.dateFormat = "EEEE d MMMM 'at' HH:mm"
        return formatter.string(from: date) + " (\(timeZone.identifier))"
    }

    /// "2026-12-02 14:05:09" in UTC, for tables.
    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    /// The first word of a name, for "Hello, Ada": the customer page shows no more than that.
    static func firstName(_ name: String?) -> String? {
        guard let word = name?.split(whereSeparator: { $0.isWhitespace }).first else { return nil }
        return String(word.prefix(40))
    }
}

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
