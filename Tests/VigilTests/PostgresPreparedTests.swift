import Foundation
import PostgresNIO
import Testing
@testable import VigilStore

/// The store's statements run as named prepared statements (`PostgresSQL`), prepared once per
/// pooled connection.
@Suite("PostgreSQL: prepared statements")
struct PostgresPreparedTests {
    /// Every type Vigil binds, as a prepared statement.
    static func everyType(_ text: String) -> PostgresSQL {
        let none: String? = nil
        let at = Date(timeIntervalSince1970: 1_790_000_000.123456)
        return """
            SELECT \(text) AS t, \(none) AS n, \(at) AS at, \(Int64.max) AS big, \(42) AS i, \(true) AS b,
                (\("{\"a\": [1, 2]}")::jsonb -> 'a')::text AS j, \("25.50")::numeric::text AS amount
            """
    }

    @Test("each statement is prepared once per connection, and every value type round-trips through it")
    func preparedOncePerConnection() async throws {
        // Two connections: one listens, so every statement below runs on the other.
        try await withPostgresStore(poolMax: 2) { store in
            let prepared = store.statements.prepared
            let before = prepared.count
            for text in ["héllo ✓", "second run, same statement"] {
                let rows = try await store.rows(Self.everyType(text))
                let row = try #require(rows.first)
                #expect(try row["t"].decode(String.self) == text)
                #expect(try row["n"].decode(String?.self) == nil)
                #expect(try row["at"].decode(Date.self) == Date(timeIntervalSince1970: 1_790_000_000.123456))
                #expect(try row["big"].decode(Int64.self) == .max)
                #expect(try row["i"].decode(Int.self) == 42)
                #expect(try row["b"].decode(Bool.self) == true)
                #expect(try row["j"].decode(String.self) == "[1, 2]")
                #expect(try row["amount"].decode(String.self) == "25.50")
            }
            #expect(prepared.count == before + 1)

            // PostgreSQL's own view of the session agrees (this query is prepared too).
            let server = try await store.rows("SELECT count(*) AS n FROM pg_prepared_statements")
            #expect(try server.first?["n"].decode(Int64.self) == Int64(prepared.count))

            // A column the statement does not return is a decoding error, not a trap.
            #expect(throws: (any Error).self) { try server.first?["missing"].decode(Int64.self) }
        }
    }

    @Test("a statement with many values (a long multi-row INSERT) runs unnamed and is not kept")
    func longStatementsRunUnnamed() async throws {
        try await withPostgresStore(poolMax: 2) { store in
            let prepared = store.statements.prepared
            let before = prepared.count
            var sql = PostgresSQL()
            var terms: [String] = []
            for n in 0..<(PostgresPreparedStatements.maxBinds + 6) { terms.append(sql.bind(Int64(n))) }
            sql.append("SELECT " + terms.joined(separator: " + ") + " AS total")
            let total = try await store.rows(sql).first?["total"].decode(Int64.self)
            #expect(total == Int64((0..<(PostgresPreparedStatements.maxBinds + 6)).reduce(0, +)))
            #expect(prepared.count == before)
        }
    }

    @Test("after the server drops the connection, statements are prepared afresh on the new one")
    func newConnectionPreparesAgain() async throws {
        try await withPostgresStore(poolMax: 2) { store in
            _ = try await store.rows(Self.everyType("before"))
            let database = try #require(try await store.rows("SELECT current_database() AS d").first?["d"].decode(String.self))
            try await TestPostgres.admin("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()
                """)
            // The pool may hand out the dead connection once more: that attempt fails, the next
            // gets a new connection.
            var answer: String?
            for _ in 0..<20 where answer == nil {
                answer = try? await store.rows(Self.everyType("after")).first?["t"].decode(String.self)
            }
            #expect(answer == "after")
            // On whichever new connection runs it: BEGIN, that statement, and this count query.
            let onServer = try await store.transaction { tx in
                _ = try await tx.rows(Self.everyType("in a transaction"))
                return try await tx.rows("SELECT count(*) AS n FROM pg_prepared_statements").first?["n"].decode(Int64.self)
            }
            #expect(onServer == 3)
        }
    }

    @Test("with VIGIL_DB_PREPARED_STATEMENTS=false every statement, transactions too, runs unnamed")
    func preparingOff() async throws {
        try await withPostgresDatabase { database in
            var settings = try TestPostgres.settings(database: database, poolMax: 2)
            settings.preparedStatements = false
            let store = PostgresStore(settings: settings, logger: quietLogger)
            try await withRunning(store) {
                _ = try await store.migrate()
                let text = try await store.rows(Self.everyType("unnamed")).first?["t"].decode(String.self)
                #expect(text == "unnamed")
                let wrote = try await store.write { _ in true }
                #expect(wrote)
                #expect(store.statements.prepared.count == 0)
                let server = try await store.rows("SELECT count(*) AS n FROM pg_prepared_statements")
                #expect(try server.first?["n"].decode(Int64.self) == 0)
            }
        }
    }
}
