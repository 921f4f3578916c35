import Foundation
import VigilCore

/// A value bound to a statement, typed even when it is NULL: PostgreSQL must know each
/// parameter's type (`? IS NULL OR state = ?` has nothing else to infer it from), so a nil
/// keeps the case of the value it stands for. Each driver stores the types its own way
/// (SQLite: times as integer milliseconds, money and JSON as text; PostgreSQL: `timestamptz`,
/// `numeric`, `jsonb`), and reads them back into these same cases or ones `SQLRow` converts.
public enum SQLValue: Sendable, Equatable {
    case text(String?)
    case int(Int64?)
    case double(Double?)
    case bool(Bool?)
    case date(Date?)
    /// Money: exact decimal.
    case decimal(Decimal?)
    /// A JSON document, as text.
    case json(String?)

    public var isNull: Bool {
        switch self {
        case .text(let v): v == nil
        case .int(let v): v == nil
        case .double(let v): v == nil
        case .bool(let v): v == nil
        case .date(let v): v == nil
        case .decimal(let v): v == nil
        case .json(let v): v == nil
        }
    }

    public static func int(_ value: Int) -> SQLValue { .int(Int64(value)) }
    public static func int(_ value: Int?) -> SQLValue { .int(value.map(Int64.init)) }
}

/// A statement in the SQL both backends accept, with `?` placeholders bound in order. Each
/// driver renders the placeholders its own way (SQLite takes `?` as is; PostgreSQL gets
/// `$n::type`). Values are always bound, never spliced into the text.
public struct SQLStatement: Sendable, Equatable, ExpressibleByStringLiteral {
    public var text: String
    public var binds: [SQLValue]

    public init(_ text: String, _ binds: [SQLValue] = []) {
        self.text = text
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }
}

/// The instants a database stores: years 1 to 9999, as PostgreSQL's `timestamptz` can and as
/// fits SQLite's integer milliseconds. Anything beyond is refused with an error rather than
/// trapping on an integer overflow.
public enum StoredTime {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    public static let range = Timestamp.earliest...Timestamp.latest

    public static func check(_ date: Date) throws -> Date {
        guard range.contains(date) else {
            throw StoreError("the time \(date.timeIntervalSince1970)s since 1970 is outside the years 1 to 9999 a database stores")
        }
        return date
    }

    public static func milliseconds(_ date: Date) throws -> Int64 {
        Int64((try check(date).timeIntervalSince1970 * 1000).rounded())
    }
}
