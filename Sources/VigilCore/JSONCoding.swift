import Foundation

/// JSON with stable output (sorted keys, ISO 8601 dates) for stored payloads and event data.
public enum JSONCoding {
    public static func string<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.string(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad date \(text)"))
            }
            return date
        }
        return try decoder.decode(type, from: Data(text.utf8))
    }

    /// A JSON object from loose values (String, Int, Int64, Double, Bool, Decimal, Date, nil),
    /// keys sorted, nil fields left out. Written by hand on purpose: this builds the event-log data
    /// of every transaction, and going through JSONSerialization (bridging to NSDictionary) was 17%
    /// of the CPU time of webhook ingest (docs/BENCHMARKS.md, "A direct JSON writer"). Other value
    /// types take that slower path. API bodies are Codable instead.
    public static func object(_ fields: [String: (any Sendable)?]) -> String {
        var out = "{"
        var first = true
        for key in fields.keys.sorted() {
            guard let value = fields[key], let value else { continue }
            guard let scalar = scalar(value) else { return foundationObject(fields) }
            if !first { out += "," }
            first = false
            appendString(key, to: &out)
            out += ":"
            out += scalar
        }
        return out + "}"
    }

    /// A scalar as JSON text, or nil for a type this writer does not handle.
    private static func scalar(_ value: any Sendable) -> String? {
        switch value {
        case let string as String:
            var out = ""
            appendString(string, to: &out)
            return out
        case let bool as Bool: return bool ? "true" : "false"
        case let int as Int: return String(int)
        case let int as Int64: return String(int)
        case let decimal as Decimal: return decimal.isFinite ? "\(decimal)" : nil
        case let double as Double:
            guard double.isFinite else { return nil }
            if double == double.rounded(), abs(double) < 1e15 { return String(Int64(double)) }
            return "\(double)"
        case let date as Date:
            var out = ""
            appendString(Timestamp.string(date), to: &out)
            return out
        default: return nil
        }
    }

    /// Appends `string` as a JSON string literal: quotes, backslashes and control characters
    /// escaped; everything else (slashes, non-ASCII) as is.
    public static func appendString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    private static func foundationObject(_ fields: [String: (any Sendable)?]) -> String {
        var clean: [String: Any] = [:]
        for (key, value) in fields {
            switch value {
            case nil: continue
            case let date as Date: clean[key] = Timestamp.string(date)
            case let decimal as Decimal: clean[key] = NSDecimalNumber(decimal: decimal)
            case let some?: clean[key] = some
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// RFC 3339 timestamps with milliseconds, UTC.
public enum Timestamp {
    public static func string(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func parse(_ text: String) -> Date? {
        if let d = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return d }
        if let d = try? Date.ISO8601FormatStyle().parse(text) { return d }
        if let d = try? Date.ISO8601FormatStyle().year().month().day().parse(text) { return d }
        return nil
    }
}

extension JSONCoding {
    /// Serialises a loose JSON value built from dictionaries, arrays and scalars, keys sorted: the
    /// JSON log lines, whose fields are whatever metadata a line carries. Written directly for the
    /// same measured reason as `object` (docs/BENCHMARKS.md); JSONSerialization for other values.
    public static func objectAny(_ value: Any) -> String {
        var out = ""
        if write(value, into: &out) { return out }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes `value` as JSON; false for a value it does not handle.
    private static func write(_ value: Any, into out: inout String) -> Bool {
        switch value {
        case let dictionary as [String: Any]:
            out += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                guard let element = dictionary[key], write(element, into: &out) else { return false }
            }
            out += "}"
            return true
        case let array as [Any]:
            out += "["
            for (index, element) in array.enumerated() {
                if index > 0 { out += "," }
                guard write(element, into: &out) else { return false }
            }
            out += "]"
            return true
        case is NSNull:
            out += "null"
            return true
        case let string as String:
            appendString(string, to: &out)
            return true
        case let bool as Bool:
            out += bool ? "true" : "false"
            return true
        case let int as Int:
            out += String(int)
            return true
        case let int as Int64:
            out += String(int)
            return true
        case let double as Double:
            guard double.isFinite, let text = scalar(double) else { return false }
            out += text
            return true
        default:
            return false
        }
    }
}
