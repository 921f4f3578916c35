import VigilStore

extension SQLiteDriver {
    /// SQLite's SQL, where it differs from what `SQLStore` writes for both backends.
    public static let dialect = SQLDialect(
        system: "sqlite",
        columnTypes: [
            // INTEGER PRIMARY KEY is the rowid; AUTOINCREMENT never reuses one after a delete.
            "id": "INTEGER PRIMARY KEY", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
            // Times are integer milliseconds since 1970 (UTC); money and JSON are text.
            "time": "INTEGER", "json": "TEXT", "money": "TEXT", "bigint": "INTEGER", "bool": "INTEGER",
        ],
        // One writer: nothing else can change a row between a read and the update that follows.
        lockForUpdate: "",
        // No SKIP LOCKED: the single writer claims with one UPDATE under its write lock.
        claimTasks: """
            UPDATE tasks SET state = 'running', attempts = attempts + 1,
                first_attempt_at = COALESCE(first_attempt_at, ?1), lease_owner = ?2, lease_token = ?3,
                run_at = ?4, updated_at = ?1
            WHERE id IN (
                SELECT id FROM tasks
                WHERE queue = ?5 AND state IN ('scheduled', 'retrying', 'running') AND run_at <= ?1
                ORDER BY run_at, id LIMIT ?6)
            RETURNING id, name, queue, kind, order_id, payload, state, attempts, scheduled_at, first_attempt_at,
                last_error, created_at, updated_at, trace_context
            """,
        tableExists: "SELECT count(*) AS present FROM sqlite_master WHERE type = 'table' AND name = ?",
        // Single-row inserts need no statement journal, and statements cost no round trip.
        multiRowInsert: false,
        completionLanes: 1,
        // A statement each (SQLite has no INSERT in WITH); wake-ups stay in the process, which
        // owns the file.
        closingStatements: { inserts, _ in inserts.map(\.statement) })
}
