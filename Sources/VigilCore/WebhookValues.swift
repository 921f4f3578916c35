import Foundation

// The value types webhook bodies decode into. Each one checks its input as it decodes, so a
// bad value fails with a message naming what is expected, and nothing unchecked reaches the flow.

/// An identifier (an order, a session, a customer): a non-empty string of at most 200 bytes
/// without control characters, or a non-negative integer (Lightspeed's ids are numbers).
public struct WebhookID: Decodable, Sendable, Equatable {
    public static let maxBytes = 200
    public let value: String

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self), number >= 0 {
            value = String(number)
            return
        }
        guard let text = try? container.decode(String.self) else {
            throw WebhookValueError.invalid(decoder, "a string of at most \(Self.maxBytes) bytes, or an integer")
        }
        guard let checked = Self.check(text) else {
            throw WebhookValueError.invalid(decoder, "a non-empty string of at most \(Self.maxBytes) bytes without control characters")
        }
        value = checked
    }

    public static func check(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= maxBytes, !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return nil }
        return text
    }
}

/// Free text Vigil keeps (a name, an event name, a reason): at most `maxBytes` bytes, no NUL.
public struct WebhookText: Decodable, Sendable, Equatable {
    public static let maxBytes = 1000
    public let value: String

    public init(from decoder: any Decoder) throws {
        let text: String
        do {
            text = try decoder.singleValueContainer().decode(String.self)
        } catch {
            throw WebhookValueError.invalid(decoder, "a string")
        }
        guard text.utf8.count <= Self.maxBytes, !text.utf8.contains(0) else {
            throw WebhookValueError.invalid(decoder, "a string of at most \(Self.maxBytes) bytes without NUL characters")
        }
        value = text
    }
}

/// An amount of money, exact: a JSON number or a decimal string (`"19.99"`; no exponent, no
/// trailing text), from 0 to `Money.maximum` with at most 4 decimal places.
public struct WebhookMoney: Decodable, Sendable, Equatable {
    public let value: Decimal

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let expected = "an amount from 0 to \(Money.maximum) with at most \(Money.maxScale) decimal places, as a number or a string like \"19.99\""
        var parsed: Decimal?
        if let number = try? container.decode(Decimal.self) {
            parsed = number
        } else if let text = try? container.decode(String.self) {
            parsed = Money.parse(text)
        }
        guard let amount = parsed, Money.isValid(amount) else { throw WebhookValueError.invalid(decoder, expected) }
        value = amount
    }
}

/// Exact decimal money, bounded.
public enum Money {
    /// No order is worth more; anything larger is a mistake or an attack, not a sale.
    public static let maximum: Decimal = 1_000_000_000
    public static let maxScale = 4

    /// A plain decimal: digits, optionally a point and more digits. Nothing else.
    public static func parse(_ text: String) -> Decimal? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (48...57).contains($0) } }),
              parts[0].utf8.count <= 13 else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    public static func isValid(_ amount: Decimal) -> Bool {
        guard amount.isFinite, amount >= 0, amount <= maximum else { return false }
        var scaled = amount * pow(10, maxScale)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        return rounded == scaled
    }
}

/// When a webhook says it was sent: RFC 3339 text or seconds since 1970 (a number, never a
/// boolean), within the years a database can store.
public struct WebhookTime: Decodable, Sendable, Equatable {
    public let value: Date

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let expected = "a time: RFC 3339 text or seconds since 1970"
        var parsed: Date?
        if (try? container.decode(Bool.self)) != nil {
            parsed = nil
        } else if let seconds = try? container.decode(Double.self), seconds.isFinite {
            parsed = Date(timeIntervalSince1970: seconds)
        } else if let text = try? container.decode(String.self) {
            parsed = Timestamp.parse(text)
        }
        guard let date = parsed, date >= Timestamp.earliest, date <= Timestamp.latest else {
            throw WebhookValueError.invalid(decoder, expected)
        }
        value = date
    }
}

/// A field whose value does not matter to Vigil: decoding it accepts anything.
public struct IgnoredJSON: Decodable, Sendable {
    public init(from decoder: any Decoder) throws {}
}

/// A value Lightspeed may send as a string, a number, `false` or null for "none": read as text
/// where it is text or a number, nil otherwise.
public struct LenientText: Decodable, Sendable, Equatable {
    public let value: String?

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            value = text.isEmpty || text.utf8.count > WebhookText.maxBytes || text.utf8.contains(0) ? nil : text
        } else if let number = try? container.decode(Int64.self) {
            value = String(number)
        } else {
            value = nil
        }
    }
}

enum WebhookValueError {
    static func invalid(_ decoder: any Decoder, _ expected: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be \(expected)"))
    }
}

extension Timestamp {
    /// The range of times Vigil accepts from outside: years 1 to 9999, as a database stores them.
    public static let earliest = Date(timeIntervalSince1970: -62_135_596_800)
    public static let latest = Date(timeIntervalSince1970: 253_402_300_799)
}
