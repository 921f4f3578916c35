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
