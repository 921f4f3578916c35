import Foundation
import Testing
import VigilCore

/// The hand-written writer for event-log data must say exactly what JSONSerialization says.
@Suite("JSON object writer")
struct JSONCodingTests {
    static func foundation(_ fields: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]),
               as: UTF8.self)
    }

    @Test("same text as JSONSerialization for strings, escapes, numbers, booleans, decimals and dates; nil left out")
    func matchesFoundation() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.123)
        let tricky = "quote \" backslash \\ slash / newline \n tab \t bell \u{07} nul \u{00} é ✓ 😀"
        let fields: [String: (any Sendable)?] = [
            "s": tricky, "i": 42, "neg": -7, "big": Int64(9_007_199_254_740_993), "t": true, "f": false,
            "dec": Decimal(string: "25.50"), "zero": Decimal(0), "at": date, "gone": nil, "d": 10.0, "empty": "",
        ]
        let written = JSONCoding.object(fields)
        let expected = try Self.foundation([
            "s": tricky, "i": 42, "neg": -7, "big": Int64(9_007_199_254_740_993), "t": true, "f": false,
            "dec": NSDecimalNumber(string: "25.5"), "zero": NSDecimalNumber(value: 0), "at": Timestamp.string(date),
            "d": 10, "empty": "",
        ])
        #expect(written == expected)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: Any])
        #expect(parsed["s"] as? String == tricky)
        #expect(parsed.keys.sorted() == ["at", "big", "d", "dec", "empty", "f", "i", "neg", "s", "t", "zero"])
        #expect(JSONCoding.object([:]) == "{}")
        #expect(JSONCoding.object(["x": 0.25]) == #"{"x":0.25}"#)
    }

    @Test("values it does not write itself still come out as JSON")
    func fallsBack() throws {
        let written = JSONCoding.object(["list": [1, 2], "name": "n"])
        #expect(written == #"{"list":[1,2],"name":"n"}"#)
    }
}

extension JSONCodingTests {
    @Test("responses: nested objects, arrays and null come out as JSONSerialization writes them")
    func nestedMatchesFoundation() throws {
        let value: [String: Any] = [
            "status": "accepted", "orderId": "A\"1/é", "count": 3, "ok": true, "ratio": 0.5, "none": NSNull(),
            "items": [["b": 2, "a": "x"], [], [1, "two", false]] as [Any], "nested": ["z": ["y": -1]],
        ]
        let expected = String(decoding: try JSONSerialization.data(
            withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        #expect(JSONCoding.objectAny(value) == expected)
    }
}
