import Foundation

/// Durations as users write them in configuration: `90s`, `15m`, `24h`, `3d`, `500ms`,
/// or a sequence such as `1h30m`.
public enum DurationText {
    public struct ParseError: Error, CustomStringConvertible {
        public let text: String
        var tooLong = false
        public var description: String {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            if tooLong { return "'\(shown)' is longer than the \(DurationText.format(DurationText.maximum)) a duration may be" }
            return "'\(shown)' is not a duration; write a number and a unit, e.g. 90s, 15m, 24h, 3d"
        }
    }

    /// The longest duration accepted anywhere (100 years): anything longer is a mistake, and
    /// bounding it here keeps every instant computed from one within what a clock and a database
    /// can represent.
    public static let maximum: TimeInterval = 36_500 * 86_400

    /// Parses `text` into seconds.
    public static func parse(_ text: String) throws(ParseError) -> TimeInterval {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !trimmed.isEmpty else { throw ParseError(text: text) }
        var total: TimeInterval = 0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let value = Double(digits) else { throw ParseError(text: text) }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: TimeInterval
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            default: throw ParseError(text: text)
            }
            total += value * scale
            guard total.isFinite, total <= maximum else { throw ParseError(text: text, tooLong: true) }
        }
        return total
    }

    /// Formats seconds the way users write them (`72h`, `7d`, `90s`, `1500ms`): the largest unit
    /// that divides it evenly and still reads naturally (days from a week, hours and minutes from
    /// two), so defaults print as the contract writes them.
    public static func format(_ seconds: TimeInterval) -> String {
        if seconds == 0 { return "0s" }
        guard seconds.isFinite, abs(seconds) <= maximum * 100 else { return "\(seconds)s" }
        let ms = Int64((seconds * 1000).rounded())
        if ms % 86_400_000 == 0, ms >= 7 * 86_400_000 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0, ms >= 2 * 3_600_000 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms >= 2 * 60_000 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

public enum VigilVersion {
    public static let current = "0.1.0"
}
