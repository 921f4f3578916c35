import Foundation
import NIOCore
import PostgresNIO

/// A statement Vigil runs as a named prepared statement: its text and its bind values. String
/// interpolation turns every value into a `$n` placeholder, never SQL text, exactly as
/// `PostgresQuery` does.
///
/// Each placeholder carries a cast to the type of the value bound to it (`$3::timestamptz`). The
/// statement is prepared without parameter types, so PostgreSQL infers each one from its
/// context; the cast makes the inferred type the one the bytes are encoded as, wherever the
/// placeholder stands (`$5::text::jsonb` for JSON sent as text, for instance).
struct PostgresSQL: Sendable, ExpressibleByStringInterpolation {
    private(set) var text: String
    private(set) var binds: [PostgresData]

    init(stringLiteral value: String) {
        text = value
        binds = []
    }

    init(stringInterpolation: StringInterpolation) {
        text = stringInterpolation.text
        binds = stringInterpolation.binds
    }

    /// An empty statement for code that assembles one (a multi-row INSERT).
    init() {
        text = ""
        binds = []
    }

    mutating func append(_ sql: String) {
        text += sql
    }

    /// Binds `value` and returns its placeholder, for statements assembled piece by piece.
    mutating func bind<Value: PostgresNonThrowingEncodable>(_ value: Value?) -> String {
        Self.bind(value, text: &text, binds: &binds, append: false)
    }

    fileprivate static func bind<Value: PostgresNonThrowingEncodable>(
        _ value: Value?, text: inout String, binds: inout [PostgresData], append: Bool
    ) -> String {
        let data: PostgresData
        if let value {
            var buffer = ByteBuffer()
            value.encode(into: &buffer, context: .default)
            data = PostgresData(type: Value.psqlType, formatCode: .binary, value: buffer)
        } else {
            data = PostgresData(type: Value.psqlType, formatCode: .binary, value: nil)
        }
        binds.append(data)
        // Every type postgres-nio encodes has a SQL name; without one, PostgreSQL infers it.
        let placeholder = "$\(binds.count)" + (Value.psqlType.knownSQLName.map { "::" + $0 } ?? "")
        if append { text += placeholder }
        return placeholder
    }

    struct StringInterpolation: StringInterpolationProtocol {
        fileprivate var text = ""
        fileprivate var binds: [PostgresData] = []

        init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 16)
            binds.reserveCapacity(interpolationCount)
        }

        mutating func appendLiteral(_ literal: String) {
            text += literal
        }

        mutating func appendInterpolation<Value: PostgresNonThrowingEncodable>(_ value: Value) {
            _ = PostgresSQL.bind(value, text: &text, binds: &binds, append: true)
        }

        mutating func appendInterpolation<Value: PostgresNonThrowingEncodable>(_ value: Value?) {
            _ = PostgresSQL.bind(value, text: &text, binds: &binds, append: true)
        }

        /// Fixed SQL text (column lists); never a value.
        mutating func appendInterpolation(unescaped sql: String) {
            text += sql
        }
    }
}

/// One row of a `PostgresSQL` statement's result, its cells looked up by column name.
///
/// Results are always requested in binary, but postgres-nio 1.33's `PreparedQuery` keeps the row
/// description from preparing the statement, whose formats say text, so its cells would be
/// decoded as text. The cells are labelled binary here, as the driver's own paths do.
struct PostgresResultRow: Sendable {
    private let cells: [PostgresCell]

    init(_ row: PostgresRow) {
        cells = row.map { cell in
            PostgresCell(bytes: cell.bytes, dataType: cell.dataType, format: .binary,
                         columnName: cell.columnName, columnIndex: cell.columnIndex)
        }
    }

    /// The cell of `column`; a column the statement does not return reads as NULL, so decoding
    /// it as a non-optional type fails with a decoding error rather than trapping.
    subscript(column: String) -> PostgresCell {
        cells.first { $0.columnName == column }
            ?? PostgresCell(bytes: nil, dataType: .null, format: .binary, columnName: column, columnIndex: -1)
    }
}
