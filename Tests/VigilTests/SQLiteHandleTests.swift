import Foundation
import SQLiteNIO
import Testing
@testable import VigilStore

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

    @Test("every kind of value round-trips, text with multi-byte characters and NULs included")
    func valuesRoundTrip() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE v (i INTEGER, f REAL, t TEXT, b BLOB, n TEXT)")
            let text = "Zoë — 年齢確認 \u{0} after a NUL"
            _ = try db.run("INSERT INTO v VALUES (?, ?, ?, ?, ?)",
                           [.integer(-9_007_199_254_740_993), .float(2.5), .text(text),
                            .blob(ByteBuffer(bytes: [0, 1, 255])), .null])
            let rows = try await db.query("SELECT * FROM v")
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row.column("i") == .integer(-9_007_199_254_740_993))
            #expect(row.column("f") == .float(2.5))
            #expect(row.column("t") == .text(text))
            #expect(row.column("b") == .blob(ByteBuffer(bytes: [0, 1, 255])))
            #expect(row.column("n") == .null)
            #expect(row.column("missing") == nil)
        }
    }

    @Test("a cached statement runs again with new bindings and none left over from before")
    func cachedStatementsRebind() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
            for n in 0..<50 {
                _ = try db.run("INSERT INTO kv (k, v) VALUES (?, ?)", [.text("k\(n)"), n % 2 == 0 ? .text("v\(n)") : .null])
            }
            let nulls = try db.run("SELECT count(*) AS c FROM kv WHERE v IS NULL")
            #expect(nulls.first?.column("c") == .integer(25))
            for n in [0, 7, 49] {
                let rows = try db.run("SELECT v FROM kv WHERE k = ?", [.text("k\(n)")])
                #expect(rows.first?.column("v") == (n % 2 == 0 ? .text("v\(n)") : .null))
            }
            // More distinct statements than the cache holds: it starts again and results stay right.
            for n in 0..<300 {
                let rows = try db.run("SELECT \(n) AS n, v FROM kv WHERE k = ?", [.text("k\(n % 50)")])
                #expect(rows.first?.column("n") == .integer(SQLiteInt64(n)))
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
            #expect(try db.run("SELECT k FROM u ORDER BY k").map { $0.column("k") } == [.text("a"), .text("b")])
        }
    }

    @Test("after the cache is cleared, SELECT * sees a column added since")
    func clearedCacheSeesNewColumns() async throws {
        try await withHandle { db in
            _ = try db.run("CREATE TABLE s (a INTEGER)")
            _ = try db.run("INSERT INTO s VALUES (1)")
            #expect(try db.run("SELECT * FROM s").first?.column("a") == .integer(1))
            _ = try db.run("ALTER TABLE s ADD COLUMN b TEXT DEFAULT 'x'")
            db.clearStatementCache()
            #expect(try db.run("SELECT * FROM s").first?.column("b") == .text("x"))
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
