import Foundation
import NIOCore
import PostgresNIO
import Synchronization
import VigilCore
import VigilStore

/// A statement as PostgreSQL gets it: `?` placeholders rendered as `$n` with a cast to the type
/// of the value bound to each, and the values encoded in binary.
///
/// The casts matter because statements are prepared without parameter types: PostgreSQL infers
/// each one from its context, and `? IS NULL` gives it none. With the cast the inferred type is
/// the one the bytes are encoded as, wherever the placeholder stands (`$5::text::jsonb` for JSON
/// sent as text). A statement with no `?` (the dialect's own SQL) is taken as written.
struct PostgresStatement: Sendable {
    let text: String
    let binds: [PostgresData]

    init(_ statement: SQLStatement) throws {
        var binds: [PostgresData] = []
        binds.reserveCapacity(statement.binds.count)
        var casts: [String] = []
        casts.reserveCapacity(statement.binds.count)
        for value in statement.binds {
            let (data, cast) = try Self.encode(value)
            binds.append(data)
            casts.append(cast)
        }
        self.binds = binds
        text = try Self.rendered(statement.text, casts: casts)
    }

    /// Rendered texts by template and cast signature. Vigil's statements come in a few dozen
    /// shapes, so each is rendered once and then only looked up.
    private static let renderedTexts = Mutex<[String: String]>([:])

    static func rendered(_ template: String, casts: [String]) throws -> String {
        let key = template + "\u{1}" + casts.joined(separator: ",")
        if let known = renderedTexts.withLock({ $0[key] }) { return known }
        let text = try render(template, casts: casts)
        renderedTexts.withLock { cache in
            // Bounded: the multi-row statements vary with their row counts.
            if cache.count >= 512 { cache.removeAll() }
            cache[key] = text
        }
        return text
    }

    /// Walks the template's bytes (not its characters: grapheme breaking is slow and SQL is
    /// ASCII where it matters) and replaces each `?` outside a quoted literal.
    static func render(_ template: String, casts: [String]) throws -> String {
        guard template.utf8.contains(UInt8(ascii: "?")) else { return template }
        var out: [UInt8] = []
        out.reserveCapacity(template.utf8.count + casts.count * 16)
        var next = 0
        var quoted = false
        for byte in template.utf8 {
            if byte == UInt8(ascii: "'") { quoted.toggle() }
            if byte == UInt8(ascii: "?"), !quoted, next < casts.count {
                next += 1
                out += Array("$\(next)::\(casts[next - 1])".utf8)
            } else {
                out.append(byte)
            }
        }
        guard next == casts.count else {
            throw StoreError("a statement has \(next) placeholders for \(casts.count) values")
        }
        return String(decoding: out, as: UTF8.self)
    }

    init(text: String, binds: [PostgresData]) {
        self.text = text
        self.binds = binds
    }

    /// The value in binary, and the SQL type its placeholder is cast to.
    static func encode(_ value: SQLValue) throws -> (PostgresData, String) {
        switch value {
        case .text(let v): (data(v?.withoutNUL), "text")
        case .int(let v): (data(v), "int8")
        case .double(let v): (data(v), "float8")
        case .bool(let v): (data(v), "bool")
        case .date(let v): (data(try v.map(StoredTime.check)), "timestamptz")
        case .decimal(let v): (data(v.map { "\($0)" }), "text::numeric")
        case .json(let v): (data(v), "text::jsonb")
        }
    }

    static func data<Value: PostgresNonThrowingEncodable>(_ value: Value?) -> PostgresData {
        guard let value else { return PostgresData(type: Value.psqlType, formatCode: .binary, value: nil) }
        var buffer = ByteBuffer()
        value.encode(into: &buffer, context: .default)
        return PostgresData(type: Value.psqlType, formatCode: .binary, value: buffer)
    }
}

/// Result rows as `SQLRow`s, each cell decoded by its column's type.
///
/// Results are always requested in binary, but postgres-nio 1.33's `PreparedQuery` keeps the row
/// description from preparing the statement, whose formats say text, so its cells would be
/// decoded as text. The cells are read as binary here, as the driver's own paths do.
enum PostgresRows {
    static func convert(_ rows: [PostgresRow]) throws -> [SQLRow] {
        guard let first = rows.first else { return [] }
        let columns = SQLRow.Columns(first.map(\.columnName))
        return try rows.map { row in
            SQLRow(columns: columns, values: try row.map(value))
        }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        let binary = PostgresCell(bytes: cell.bytes, dataType: cell.dataType, format: .binary,
                                  columnName: cell.columnName, columnIndex: cell.columnIndex)
        do {
            switch cell.dataType {
            case .int2, .int4, .int8, .oid: return .int(try binary.decode(Int64?.self))
            case .bool: return .bool(try binary.decode(Bool?.self))
            case .float4, .float8: return .double(try binary.decode(Double?.self))
            case .timestamptz, .timestamp: return .date(try binary.decode(Date?.self))
            case .numeric: return .decimal(try binary.decode(Decimal?.self))
            case .jsonb: return .json(try binary.decode(String?.self))
            default: return .text(try binary.decode(String?.self))
            }
        } catch {
            throw StoreError("cannot read column \(cell.columnName) of type \(cell.dataType): \(error)")
        }
    }
}
