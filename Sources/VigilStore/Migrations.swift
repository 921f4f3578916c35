/// One schema change. Versions only grow; a migration, once released, never changes.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

enum SQLiteMigrations {
    /// Timestamps are integer milliseconds since 1970 (UTC); JSON is stored as text.
    static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", statements: [
            """
            CREATE TABLE sessions (
                order_id TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                refund_status TEXT NOT NULL,
                customer_email TEXT NOT NULL,
                customer_name TEXT,
                customer_id TEXT,
                order_total TEXT NOT NULL,
                currency TEXT,
                payment_id TEXT,
                verification_id TEXT,
                verification_url TEXT,
                deadline INTEGER NOT NULL,
                reminder_at INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                decided_at INTEGER
            )
            """,
            "CREATE UNIQUE INDEX sessions_verification_id ON sessions(verification_id) WHERE verification_id IS NOT NULL",
            "CREATE INDEX sessions_state_created ON sessions(state, created_at)",
            """
            CREATE TABLE webhook_events (
                id INTEGER PRIMARY KEY,
                provider TEXT NOT NULL,
                event_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                order_id TEXT,
                payload TEXT NOT NULL,
                received_at INTEGER NOT NULL,
                UNIQUE (provider, event_id)
            )
            """,
            """
            CREATE TABLE tasks (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                queue TEXT NOT NULL,
                kind TEXT NOT NULL,
                order_id TEXT,
                payload TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                scheduled_at INTEGER NOT NULL,
                run_at INTEGER NOT NULL,
                first_attempt_at INTEGER,
                lease_owner TEXT,
                lease_token TEXT,
                last_error TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                finished_at INTEGER
            )
            """,
            // One index serves both claims and the next-due lookup. A running task's run_at is
            // its lease expiry, so a crashed worker's task becomes due again by itself.
            "CREATE INDEX tasks_due ON tasks(queue, run_at) WHERE state IN ('scheduled', 'retrying', 'running')",
            "CREATE INDEX tasks_order ON tasks(order_id) WHERE order_id IS NOT NULL",
            "CREATE INDEX tasks_queue_state ON tasks(queue, state, id)",
            """
            CREATE TABLE events (
                id INTEGER PRIMARY KEY,
                order_id TEXT,
                type TEXT NOT NULL,
                at INTEGER NOT NULL,
                data TEXT NOT NULL
            )
            """,
            "CREATE INDEX events_order ON events(order_id, id)",
            "CREATE INDEX events_at ON events(at, id)",
            """
            CREATE TABLE outbox (
                id INTEGER PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                provider TEXT NOT NULL,
                operation TEXT NOT NULL,
                order_id TEXT,
                task_id INTEGER,
                mode TEXT NOT NULL,
                request TEXT NOT NULL,
                response TEXT,
                at INTEGER NOT NULL
            )
            """,
            "CREATE INDEX outbox_order ON outbox(order_id, id)",
            """
            CREATE TABLE reviews (
                id INTEGER PRIMARY KEY,
                order_id TEXT,
                reason TEXT NOT NULL,
                event_id TEXT,
                created_at INTEGER NOT NULL,
                resolved_at INTEGER
            )
            """,
            "CREATE INDEX reviews_open ON reviews(created_at) WHERE resolved_at IS NULL",
        ]),
        Migration(version: 2, name: "audit log and idempotent admin requests", statements: [
            """
            CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT,
                outcome TEXT NOT NULL,
                ip TEXT,
                user_agent TEXT,
                request_id TEXT
            )
            """,
            """
            CREATE TABLE admin_requests (
                idempotency_key TEXT PRIMARY KEY,
                scope TEXT NOT NULL,
                actor TEXT NOT NULL,
                status INTEGER,
                body TEXT,
                created_at INTEGER NOT NULL
            )
            """,
            "CREATE INDEX audit_log_at ON audit_log(at, id)",
        ]),
    ]
}
