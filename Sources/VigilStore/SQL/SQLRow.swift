import Foundation

/// A result row, its columns looked up by name. Both drivers produce these, so every record is
/// decoded from a row once, for both backends, and a missing or NULL required column is an
/// error on both (never a default on one and a throw on the other).
public struct SQLRow: Sendable {
    /// Column names and positions, shared by every row of one result.
    public final class Columns: Sendable {
        let positions: [String: Int]
        public init(_ names: [String]) {
            var positions: [String: Int] = [:]
            for (index, name) in names.enumerated() where positions[name] == nil { positions[name] = index }
            self.positions = positions
        }
    }

    public let columns: Columns
    public let values: [SQLValue]

    public init(columns: Columns, values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public func value(_ name: String) -> SQLValue? {
        columns.positions[name].map { values[$0] }
    }

    func missing(_ name: String) -> StoreError {
        StoreError("column \(name) is missing or NULL")
    }

    // MARK: Optional readers: nil for NULL, an error for a value of the wrong kind.

    public func text(_ name: String) throws -> String? {
        switch value(name) {
        case nil: throw missing(name)
        case .text(let v), .json(let v): return v
        case .int(let v): return v.map(String.init)
        case .decimal(let v): return v.map { "\($0)" }
        case let other?: if other.isNull { return nil }
            throw StoreError("column \(name) holds \(other), not text")
        }
    }

    public func int64(_ name: String) throws -> Int64? {
        switch value(name) {
        case .int(let v): return v
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        case .double(let v): return v.map { Int64($0) }
        case .text(let v): return try v.map { text in
                guard let n = Int64(text) else { throw StoreError("column \(name) holds '\(text)', not an integer") }
                return n
            }
        case let other?: if other.isNull { return nil }
            throw StoreError("column \(name) holds \(other), not an integer")
        case nil: throw missing(name)
        }
    }

    public func int(_ name: String) throws -> Int? {
        try int64(name).map { Int(truncatingIfNeeded: $0) }
    }

    public func bool(_ name: String) throws -> Bool? {
        switch value(name) {
        case .bool(let v): return v
        case .int(let v): return v.map { $0 != 0 }
        case let other?: if other.isNull { return nil }
            throw StoreError("column \(name) holds \(other), not a boolean")
        case nil: throw missing(name)
        }
    }

    /// Times: PostgreSQL's `timestamptz`, or SQLite's integer milliseconds since 1970.
    public func date(_ name: String) throws -> Date? {
        switch value(name) {
        case .date(let v): return v
        case .int(let v): return v.map(Date.init(millisecondsSince1970:))
        case let other?: if other.isNull { return nil }
            throw StoreError("column \(name) holds \(other), not a time")
        case nil: throw missing(name)
        }
    }

    /// Money: PostgreSQL's `numeric`, or SQLite's exact decimal text.
    public func decimal(_ name: String) throws -> Decimal? {
        switch value(name) {
        case .decimal(let v): return v
        case .text(let v): return try v.map { text in
                guard let d = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                    throw StoreError("column \(name) holds '\(text)', not a decimal")
                }
                return d
            }
        case .int(let v): return v.map { Decimal($0) }
        case let other?: if other.isNull { return nil }
            throw StoreError("column \(name) holds \(other), not a decimal")
        case nil: throw missing(name)
        }
    }

    // MARK: Required readers: a NULL is an error.

    public func text(required name: String) throws -> String {
        guard let v = try text(name) else { throw missing(name) }
        return v
    }
    public func int64(required name: String) throws -> Int64 {
        guard let v = try int64(name) else { throw missing(name) }
        return v
    }
    public func int(required name: String) throws -> Int {
        guard let v = try int(name) else { throw missing(name) }
        return v
    }
    public func bool(required name: String) throws -> Bool {
        guard let v = try bool(name) else { throw missing(name) }
        return v
    }
    public func date(required name: String) throws -> Date {
        guard let v = try date(name) else { throw missing(name) }
        return v
    }
    public func decimal(required name: String) throws -> Decimal {
        guard let v = try decimal(name) else { throw missing(name) }
        return v
    }
    /// A column holding one of an enum's raw values.
    public func `enum`<E: RawRepresentable>(_ type: E.Type, _ name: String) throws -> E where E.RawValue == String {
        let raw = try text(required: name)
        guard let value = E(rawValue: raw) else { throw StoreError("column \(name) holds unknown \(E.self) '\(raw)'") }
        return value
    }
}
