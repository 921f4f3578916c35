import Foundation
import PostgresNIO
import Testing
@testable import VigilPostgres
import VigilStore

/// The store's statements run as named prepared statements (`PostgresStatement`), prepared once per
/// pooled connection.
@Suite("PostgreSQL: prepared statements")
struct PostgresPreparedTests {
    /// Every type Vigil binds, as a prepared statement.
    static func everyType(_ text: String) -> SQLStatement {
        SQLStatement("""
            SELECT ? AS t, ? AS n, ? AS at, ? AS big, ? AS i, ? AS b, (? -> 'a')::text AS j, ? AS amount, ? AS raw
            """, [.text(text), .text(nil), .date(Date(timeIntervalSince1970: 1_790_000_000.123456)), .int(Int64.max), .int(42),
                  .bool(true), .json(#"{"a": [1, 2]}"#), .decimal(Decimal(string: "25.50")), .json(#"{"k":"v"}"#)])
    }

    @Test("each statement is prepared once per connection, and every value type round-trips through it")
    func preparedOncePerConnection() async throws {
        // Two connections: one listens, so every statement below runs on the other.
        try await withPostgresStore(poolMax: 2) { store in
            let prepared = store.driver.statements.prepared
            let before = prepared.count
            for text in ["héllo ✓", "second run, same statement"] {
                let rows = try await store.driver.read(Self.everyType(text))
                let row = try #require(rows.first)
                #expect(try row.text("t") == text)
                #expect(try row.text("n") == nil)
                #expect(try row.date("at") == Date(timeIntervalSince1970: 1_790_000_000.123456))
                #expect(try row.int64("big") == .max)
                #expect(try row.int("i") == 42)
                #expect(try row.bool("b") == true)
                #expect(try row.text("j") == "[1, 2]")
                #expect(try row.decimal("amount") == Decimal(string: "25.50"))
                #expect(row.value("raw") == .json(#"{"k": "v"}"#), "jsonb reads back as JSON text")
            }
            #expect(prepared.count == before + 1)

            // PostgreSQL's own view of the session agrees (this query is prepared too).
            let server = try await store.driver.read("SELECT count(*) AS n FROM pg_prepared_statements")
            #expect(try server.first?.int("n") == prepared.count)

            // A column the statement does not return is an error, not a trap.
            #expect(throws: StoreError.self) { try server.first?.int("missing") }
        }
    }

    @Test("a statement with many values (a long multi-row INSERT) runs unnamed and is not kept")
    func longStatementsRunUnnamed() async throws {
        try await withPostgresStore(poolMax: 2) { store in
            let prepared = store.driver.statements.prepared
            let before = prepared.count
            let count = PostgresPreparedStatements.maxBinds + 6
            let sql = SQLStatement("SELECT " + Array(repeating: "?", count: count).joined(separator: " + ") + " AS total",
                                   (0..<count).map { .int(Int64($0)) })
            let total = try await store.driver.read(sql).first?.int("total")
            #expect(total == (0..<count).reduce(0, +))
            #expect(prepared.count == before)
        }
    }

    @Test("after the server drops the connection, statements are prepared afresh on the new one")
    func newConnectionPreparesAgain() async throws {
        try await withPostgresStore(poolMax: 2) { store in
            _ = try await store.driver.read(Self.everyType("before"))
            let database = try #require(try await store.driver.read("SELECT current_database() AS d").first?.text("d"))
            try await TestPostgres.admin("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()
                """)
            // The pool may hand out each dead connection once more (the server ends them a moment
            // after the call returns): those attempts fail, later ones get new connections. Bounded
            // in attempts and in time, not a sleep.
            var answer: String?
            let deadline = ContinuousClock.now + .seconds(20)
            while answer == nil, ContinuousClock.now < deadline {
                answer = try? await store.driver.read(Self.everyType("after")).first?.text("t")
            }
            #expect(answer == "after")
            // On whichever new connection runs it: BEGIN, that statement, and this count query.
            var onServer: Int?
            while onServer == nil, ContinuousClock.now < deadline {
                onServer = try? await store.driver.transaction { tx in
                    _ = try await tx.query(Self.everyType("in a transaction"))
                    return try await tx.query("SELECT count(*) AS n FROM pg_prepared_statements").first?.int("n")
                }
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
                let text = try await store.driver.read(Self.everyType("unnamed")).first?.text("t")
                #expect(text == "unnamed")
                let wrote = try await store.write { _ in true }
                #expect(wrote)
                #expect(store.driver.statements.prepared.count == 0)
                let server = try await store.driver.read("SELECT count(*) AS n FROM pg_prepared_statements")
                #expect(try server.first?.int("n") == 0)
            }
        }
    }
}
