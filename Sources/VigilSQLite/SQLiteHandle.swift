import Foundation
import NIOCore
import NIOPosix
import Synchronization
import VigilCore
import VigilStore
// The SQLite that SQLiteNIO embeds, so the service needs no system SQLite. VaporCSQLite is
// sqlite-nio's C target, not a declared product: SwiftPM hands its module map to every target
// that depends on SQLiteNIO. Package.swift therefore accepts only patch releases of sqlite-nio.
import VaporCSQLite

/// One SQLite connection driven directly through SQLite's C API, with its prepared statements
/// cached.
///
/// Why not SQLiteNIO's connection: it prepares every statement afresh and runs each one on a
/// thread pool, so a transaction of ten statements makes ten round trips between threads. For
/// the single writer those round trips, not SQLite, limited ingest (docs/BENCHMARKS.md has the
/// profile). Here `run` executes a statement on the calling thread: inside a transaction a
/// statement touches only SQLite's page cache and takes microseconds. What may wait — taking
/// the write lock, the commit's fsync, reads that scan — goes through `query`, which runs on a
/// thread pool.
final class SQLiteHandle: Sendable {
    private final class Statement {
        let pointer: OpaquePointer
        let columns: SQLRow.Columns

        init(pointer: OpaquePointer, columns: SQLRow.Columns) {
            self.pointer = pointer
            self.columns = columns
        }
    }

    private struct State {
        var db: OpaquePointer?
        var statements: [String: Statement] = [:]
    }

    /// More distinct statements than this and the cache starts again (multi-row inserts vary in
    /// their row count, so the set of texts is bounded but not tiny).
    private static let cacheLimit = 256
    /// SQLite's global set-up, done once before the first connection opens.
    private static let initialized: Int32 = sqlite_nio_sqlite3_initialize()

    private let state: Mutex<State>
    private let threadPool: NIOThreadPool
    let path: String

    private init(db: sending OpaquePointer, path: String, threadPool: NIOThreadPool) {
        self.state = Mutex(State(db: db))
        self.path = path
        self.threadPool = threadPool
    }

    /// Opens (creating if needed) the database file at `path`.
    static func open(path: String, threadPool: NIOThreadPool = .singleton) async throws -> SQLiteHandle {
        try await threadPool.runIfActive {
            guard initialized == SQLITE_OK else {
                throw StoreError("SQLite failed to initialise (code \(initialized))")
            }
            var db: OpaquePointer?
            // NOMUTEX: every use of the handle is serialised by `state`'s lock.
            let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
            let status = sqlite_nio_sqlite3_open_v2(path, &db, flags, nil)
            guard status == SQLITE_OK, let db else {
                let message = db.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "out of memory"
                sqlite_nio_sqlite3_close_v2(db)
                throw StoreError("cannot open the SQLite database at \(path): \(message)")
            }
            return SQLiteHandle(db: db, path: path, threadPool: threadPool)
        }
    }

    /// Runs one statement on the calling thread and returns its rows. For statements that do not
    /// wait: those inside a transaction that already holds the write lock.
    func run(_ sql: String, _ binds: [SQLValue] = []) throws -> [SQLRow] {
        try withBound(sql, binds) { statement, db in
            var rows: [SQLRow] = []
            while true {
                let status = sqlite_nio_sqlite3_step(statement.pointer)
                if status == SQLITE_DONE { return rows }
                guard status == SQLITE_ROW else { throw Self.error(db, status, sql) }
                rows.append(Self.row(statement))
            }
        }
    }

    /// Runs a statement that returns no rows, on the calling thread; returns how many rows it
    /// changed and the rowid of the last row it inserted. (RETURNING would tell the same, but it
    /// buffers its rows in a temporary table that SQLite sets up afresh each time.)
    @discardableResult
    func execute(_ sql: String, _ binds: [SQLValue] = []) throws -> (changes: Int, lastRowId: Int64) {
        try withBound(sql, binds) { statement, db in
            var status = sqlite_nio_sqlite3_step(statement.pointer)
            while status == SQLITE_ROW { status = sqlite_nio_sqlite3_step(statement.pointer) }
            guard status == SQLITE_DONE else { throw Self.error(db, status, sql) }
            return (Int(sqlite_nio_sqlite3_changes64(db)), sqlite_nio_sqlite3_last_insert_rowid(db))
        }
    }

    /// Runs `body` with `sql` prepared (or taken from the cache) and `binds` bound, under the
    /// handle's lock; the statement is reset and its bindings cleared afterwards.
    private func withBound<T>(_ sql: String, _ binds: [SQLValue],
                              _ body: @Sendable (Statement, OpaquePointer) throws -> T) throws -> T {
        try state.withLock { state in
            guard let db = state.db else { throw StoreError("the SQLite database at \(path) is closed") }
            let statement = try Self.prepared(sql, in: &state, db: db)
            defer {
                sqlite_nio_sqlite3_reset(statement.pointer)
                sqlite_nio_sqlite3_clear_bindings(statement.pointer)
            }
            try Self.bind(binds, to: statement.pointer, db: db)
            return try body(statement, db)
        }
    }

    /// Runs one statement on the thread pool: for statements that may wait on a lock or a disk.
    func query(_ sql: String, _ binds: [SQLValue] = []) async throws -> [SQLRow] {
        try await threadPool.runIfActive { try self.run(sql, binds) }
    }

    /// Finalises the cached statements; the schema has changed under them.
    func clearStatementCache() {
        state.withLock { state in
            for statement in state.statements.values { sqlite_nio_sqlite3_finalize(statement.pointer) }
            state.statements.removeAll()
        }
    }

    func close() async {
        _ = try? await threadPool.runIfActive {
            self.state.withLock { state in
                for statement in state.statements.values { sqlite_nio_sqlite3_finalize(statement.pointer) }
                state.statements.removeAll()
                sqlite_nio_sqlite3_close_v2(state.db)
                state.db = nil
            }
        }
    }

    // MARK: C API

    private static func prepared(_ sql: String, in state: inout State, db: OpaquePointer) throws -> Statement {
        if let cached = state.statements[sql] { return cached }
        var pointer: OpaquePointer?
        let status = sqlite_nio_sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &pointer, nil)
        guard status == SQLITE_OK, let pointer else { throw error(db, status, sql) }
        var names: [String] = []
        for index in 0..<sqlite_nio_sqlite3_column_count(pointer) {
            names.append(sqlite_nio_sqlite3_column_name(pointer, index).map { String(cString: $0) } ?? "")
        }
        let statement = Statement(pointer: pointer, columns: SQLRow.Columns(names))
        if state.statements.count >= cacheLimit {
            for old in state.statements.values { sqlite_nio_sqlite3_finalize(old.pointer) }
            state.statements.removeAll()
        }
        state.statements[sql] = statement
        return statement
    }

    /// Binds each value as SQLite stores it: times as integer milliseconds since 1970, money and
    /// JSON as text, booleans as 0 or 1. Text loses NUL characters as it would on PostgreSQL.
    private static func bind(_ binds: [SQLValue], to statement: OpaquePointer, db: OpaquePointer) throws {
        for (offset, value) in binds.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .int(let int?):
                status = sqlite_nio_sqlite3_bind_int64(statement, index, int)
            case .bool(let bool?):
                status = sqlite_nio_sqlite3_bind_int64(statement, index, bool ? 1 : 0)
            case .double(let double?):
                status = sqlite_nio_sqlite3_bind_double(statement, index, double)
            case .date(let date?):
                status = sqlite_nio_sqlite3_bind_int64(statement, index, try StoredTime.milliseconds(date))
            case .text(let text?), .json(let text?):
                status = bindText(text.withoutNUL, statement, index)
            case .decimal(let decimal?):
                status = bindText("\(decimal)", statement, index)
            default:
                status = sqlite_nio_sqlite3_bind_null(statement, index)
            }
            guard status == SQLITE_OK else { throw error(db, status, "binding parameter \(index)") }
        }
    }

    private static func bindText(_ text: String, _ statement: OpaquePointer, _ index: Int32) -> Int32 {
        sqlite_nio_sqlite3_bind_text64(statement, index, text, UInt64(text.utf8.count), transient, UInt8(SQLITE_UTF8))
    }

    private static func row(_ statement: Statement) -> SQLRow {
        let pointer = statement.pointer
        let count = sqlite_nio_sqlite3_column_count(pointer)
        var values: [SQLValue] = []
        values.reserveCapacity(Int(count))
        for index in 0..<count {
            switch sqlite_nio_sqlite3_column_type(pointer, index) {
            case SQLITE_INTEGER:
                values.append(.int(sqlite_nio_sqlite3_column_int64(pointer, index)))
            case SQLITE_FLOAT:
                values.append(.double(sqlite_nio_sqlite3_column_double(pointer, index)))
            case SQLITE_TEXT, SQLITE_BLOB:
                let bytes = sqlite_nio_sqlite3_column_text(pointer, index)
                let length = Int(sqlite_nio_sqlite3_column_bytes(pointer, index))
                values.append(.text(String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)))
            default:
                values.append(.text(nil))
            }
        }
        return SQLRow(columns: statement.columns, values: values)
    }

    private static func error(_ db: OpaquePointer, _ status: Int32, _ context: String) -> StoreError {
        let message = String(cString: sqlite_nio_sqlite3_errmsg(db))
        let statement = context.split(separator: "\n").first.map(String.init) ?? context
        return StoreError("SQLite error \(status): \(message) (in: \(statement.trimmingCharacters(in: .whitespaces)))")
    }

    /// SQLITE_TRANSIENT: SQLite copies a bound value before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

