import VigilStore

extension PostgresDriver {
    /// PostgreSQL's SQL, where it differs from what `SQLStore` writes for both backends.
    public static let dialect = SQLDialect(
        system: "postgresql",
        columnTypes: [
            "id": "bigserial PRIMARY KEY", "serial": "bigserial PRIMARY KEY",
            "time": "timestamptz", "json": "jsonb", "money": "numeric", "bigint": "bigint", "bool": "boolean",
        ],
        // Instances share the database: lock the row a transaction reads and then updates.
        lockForUpdate: " FOR UPDATE",
        // Instances never block on each other's tasks: each skips the rows another is claiming.
        claimTasks: """
            WITH due AS (
                SELECT id FROM tasks
                WHERE queue = $5::text AND state IN ('scheduled', 'retrying', 'running') AND run_at <= $1::timestamptz
                ORDER BY run_at, id LIMIT $6::int8
                FOR UPDATE SKIP LOCKED)
            UPDATE tasks t SET state = 'running', attempts = t.attempts + 1,
                first_attempt_at = COALESCE(t.first_attempt_at, $1::timestamptz), lease_owner = $2::text,
                lease_token = $3::text, run_at = $4::timestamptz, updated_at = $1::timestamptz
            FROM due WHERE t.id = due.id
            RETURNING t.id, t.name, t.queue, t.kind, t.order_id, t.payload, t.state, t.attempts, t.scheduled_at,
                t.first_attempt_at, t.last_error, t.created_at, t.updated_at, t.trace_context
            """,
        tableExists: "SELECT count(*) AS present FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
        // One round trip for an order's tasks instead of one each.
        multiRowInsert: true,
        // One batch at a time: measured, two or four lanes were no faster (each batch smaller,
        // the commits no fewer).
        completionLanes: 1,
        // The deferred rows and the NOTIFYs that wake every instance's workers go in the
        // transaction's last statement: one round trip, the notifications delivered only if it
        // commits. A data-modifying WITH runs whether or not the query reads it.
        closingStatements: { inserts, queues in
            guard !inserts.isEmpty || !queues.isEmpty else { return [] }
            var parts: [String] = []
            var binds: [SQLValue] = []
            for (index, insert) in inserts.enumerated() {
                parts.append("w\(index) AS (\(insert.into) VALUES \(insert.rows.joined(separator: ", "))\(insert.conflict))")
                binds += insert.binds
            }
            var text = parts.isEmpty ? "" : "WITH " + parts.joined(separator: ", ") + " "
            if queues.isEmpty {
                text += "SELECT 1"
            } else {
                text += "SELECT " + queues.map { _ in "pg_notify(?, ?)" }.joined(separator: ", ")
                for queue in queues { binds += [.text(PostgresDriver.channel), .text(queue)] }
            }
            return [SQLStatement(text, binds)]
        })
}
