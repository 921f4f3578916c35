import Foundation
import Testing
@testable import VigilSQLite
import VigilStore

/// The direct SQLite connection under the embedded store: values round-trip, cached statements
/// are reused safely, and errors leave the connection usable.
@Suite("SQLite connection with cached statements")
struct SQLiteHandleTests {
    func withHandle(_ body: (SQLiteHandle) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-handle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let handle = try await SQLiteHandle.open(path: dir.appendingPathComponent("t.sqlite").path)
        do {
            try await body(handle)
        } catch {
            await handle.close()
            throw error
        }
        await handle.close()
    }

    @Test("every kind of value round-trips as SQLite stores it; a NUL in text becomes U+FFFD, as on PostgreSQL")
    func valuesRoundTrip() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE v (i INTEGER, f REAL, t TEXT, d INTEGER, m TEXT, j TEXT, b INTEGER, n TEXT)")
            let text = "Zoë — 年齢確認 \u{0} after a NUL"
            let at = Date(timeIntervalSince1970: 1_790_000_000.123)
            _ = try db.run("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [.int(Int64(-9_007_199_254_740_993)), .double(2.5), .text(text), .date(at),
                            .decimal(Decimal(string: "25.50")), .json(#"{"a":[1]}"#), .bool(true), .text(nil)])
            let rows = try await db.query("SELECT * FROM v")
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(try row.int64("i") == -9_007_199_254_740_993)
            #expect(row.value("f") == .double(2.5))
            #expect(try row.text("t") == "Zoë — 年齢確認 \u{FFFD} after a NUL")
            #expect(try row.date("d") == at)
            #expect(try row.decimal("m") == Decimal(string: "25.50"))
            #expect(try row.text("j") == #"{"a":[1]}"#)
            #expect(try row.bool("b") == true)
            #expect(try row.text("n") == nil)
            #expect(row.value("missing") == nil)
            #expect(throws: StoreError.self) { try row.text(required: "n") }
        }
    }

    @Test("a time outside the years 1 to 9999 is refused with an error, not an overflow trap")
    func farTimesAreRefused() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE d (at INTEGER)")
            let error = #expect(throws: StoreError.self) {
                try db.run("INSERT INTO d VALUES (?)", [.date(Date(timeIntervalSince1970: 1e17))])
            }
            #expect(error?.message.contains("years 1 to 9999") == true)
        }
    }

    @Test("a cached statement runs again with new bindings and none left over from before")
    func cachedStatementsRebind() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
            for n in 0..<50 {
                _ = try db.run("INSERT INTO kv (k, v) VALUES (?, ?)", [.text("k\(n)"), .text(n % 2 == 0 ? "v\(n)" : nil)])
            }
            let nulls = try db.run("SELECT count(*) AS c FROM kv WHERE v IS NULL")
            #expect(try nulls.first?.int("c") == 25)
            for n in [0, 7, 49] {
                let rows = try db.run("SELECT v FROM kv WHERE k = ?", [.text("k\(n)")])
                #expect(try rows.first?.text("v") == (n % 2 == 0 ? "v\(n)" : nil))
            }
            // More distinct statements than the cache holds: it starts again and results stay right.
            for n in 0..<300 {
                let rows = try db.run("SELECT \(n) AS n, v FROM kv WHERE k = ?", [.text("k\(n % 50)")])
                #expect(try rows.first?.int("n") == n)
            }
        }
    }

    @Test("an error names SQLite's reason, and the connection and the statement stay usable")
    func errorsLeaveTheConnectionUsable() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE u (k TEXT PRIMARY KEY)")
            _ = try db.run("INSERT INTO u VALUES (?)", [.text("a")])
            let duplicate = #expect(throws: StoreError.self) {
                try db.run("INSERT INTO u VALUES (?)", [.text("a")])
            }
            #expect(duplicate?.message.contains("UNIQUE constraint failed") == true)
            let syntax = #expect(throws: StoreError.self) { try db.run("SELEC 1") }
            #expect(syntax?.message.contains("syntax error") == true)
            _ = try db.run("INSERT INTO u VALUES (?)", [.text("b")])
            #expect(try db.run("SELECT k FROM u ORDER BY k").map { try $0.text("k") } == ["a", "b"])
        }
    }

    @Test("after the cache is cleared, SELECT * sees a column added since")
    func clearedCacheSeesNewColumns() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE s (a INTEGER)")
            _ = try db.run("INSERT INTO s VALUES (1)")
            #expect(try db.run("SELECT * FROM s").first?.int("a") == 1)
            _ = try db.run("ALTER TABLE s ADD COLUMN b TEXT DEFAULT 'x'")
            db.clearStatementCache()
            #expect(try db.run("SELECT * FROM s").first?.text("b") == "x")
        }
    }

    @Test("a closed connection refuses statements with an error, not a crash")
    func closedConnection() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-handle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try await SQLiteHandle.open(path: dir.appendingPathComponent("t.sqlite").path)
        _ = try db.run("SELECT 1")
        await db.close()
        let error = #expect(throws: StoreError.self) { try db.run("SELECT 1") }
        #expect(error?.message.contains("closed") == true)
    }
}
