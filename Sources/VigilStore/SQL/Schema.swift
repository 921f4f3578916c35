/// One schema change. Versions only grow; a migration, once released, never changes.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    /// DDL in the SQL both backends accept, with neutral column types (`SQLDialect.render`).
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Vigil's schema, once for both backends. Column types are neutral names each dialect maps:
/// `{time}` is `timestamptz` on PostgreSQL and integer milliseconds since 1970 (UTC) on SQLite,
/// `{json}` is `jsonb` or text, `{money}` is `numeric` or exact decimal text, `{id}` an
/// auto-increment primary key (`{serial}` one whose ids are never reused, even after deletes).
public enum Schema {
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "initial schema", statements: [
            """
            CREATE TABLE sessions (
                order_id TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                refund_status TEXT NOT NULL,
                customer_email TEXT NOT NULL,
                customer_name TEXT,
                customer_id TEXT,
                order_total {money} NOT NULL,
                currency TEXT,
                payment_id TEXT,
                verification_id TEXT,
                verification_url TEXT,
                deadline {time} NOT NULL,
                reminder_at {time},
                created_at {time} NOT NULL,
                updated_at {time} NOT NULL,
                decided_at {time}
            )
            """,
            "CREATE UNIQUE INDEX sessions_verification_id ON sessions (verification_id) WHERE verification_id IS NOT NULL",
            "CREATE INDEX sessions_state_created ON sessions (state, created_at)",
            """
            CREATE TABLE webhook_events (
                id {id},
                provider TEXT NOT NULL,
                event_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                order_id TEXT,
                payload {json} NOT NULL,
                received_at {time} NOT NULL,
                UNIQUE (provider, event_id)
            )
            """,
            """
            CREATE TABLE tasks (
                id {id},
                name TEXT NOT NULL UNIQUE,
                queue TEXT NOT NULL,
                kind TEXT NOT NULL,
                order_id TEXT,
                payload {json} NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                scheduled_at {time} NOT NULL,
                run_at {time} NOT NULL,
                first_attempt_at {time},
                lease_owner TEXT,
                lease_token TEXT,
                last_error TEXT,
                created_at {time} NOT NULL,
                updated_at {time} NOT NULL,
                finished_at {time}
            )
            """,
            // The claim's index: only active tasks are in it, so millions of finished tasks cost
            // nothing, and a claim is an index range scan from the front whatever is pending. A
            // running task's run_at is its lease expiry, so a crashed worker's task becomes due
            // again by itself. It also serves the next-due lookup.
            "CREATE INDEX tasks_due ON tasks (queue, run_at, id) WHERE state IN ('scheduled', 'retrying', 'running')",
            "CREATE INDEX tasks_order ON tasks (order_id) WHERE order_id IS NOT NULL",
            "CREATE INDEX tasks_queue_state ON tasks (queue, state, id)",
            """
            CREATE TABLE events (
                id {id},
                order_id TEXT,
                type TEXT NOT NULL,
                at {time} NOT NULL,
                data {json} NOT NULL
            )
            """,
            "CREATE INDEX events_order ON events (order_id, id)",
            "CREATE INDEX events_at ON events (at, id)",
            """
            CREATE TABLE outbox (
                id {id},
                idempotency_key TEXT NOT NULL UNIQUE,
                provider TEXT NOT NULL,
                operation TEXT NOT NULL,
                order_id TEXT,
                task_id {bigint},
                mode TEXT NOT NULL,
                request {json} NOT NULL,
                response {json},
                at {time} NOT NULL
            )
            """,
            "CREATE INDEX outbox_order ON outbox (order_id, id)",
            """
            CREATE TABLE reviews (
                id {id},
                order_id TEXT,
                reason TEXT NOT NULL,
                event_id TEXT,
                created_at {time} NOT NULL,
                resolved_at {time}
            )
            """,
            "CREATE INDEX reviews_open ON reviews (created_at) WHERE resolved_at IS NULL",
        ]),
        Migration(version: 2, name: "audit log and idempotent admin requests", statements: [
            """
            CREATE TABLE audit_log (
                id {serial},
                at {time} NOT NULL,
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
                created_at {time} NOT NULL
            )
            """,
            "CREATE INDEX audit_log_at ON audit_log (at, id)",
        ]),
        Migration(version: 3, name: "tasks looked up by order and kind", statements: [
            // Cancelling an order's timers goes by (order, kind), not by a name built from the
            // order id, which a hostile id could make collide with another order's.
            "DROP INDEX tasks_order",
            "CREATE INDEX tasks_order ON tasks (order_id, kind) WHERE order_id IS NOT NULL",
        ]),
        Migration(version: 4, name: "age policy, returning customers, parked decisions", statements: [
            // What the policy decided, kept instead of the date of birth: the minimum that applied
            // and the rule it came from, whether the customer was of age, and why the session ended.
            "ALTER TABLE sessions ADD COLUMN outcome_reason TEXT",
            "ALTER TABLE sessions ADD COLUMN minimum_age INTEGER",
            "ALTER TABLE sessions ADD COLUMN age_rule TEXT",
            "ALTER TABLE sessions ADD COLUMN of_age {bool}",
            "ALTER TABLE sessions ADD COLUMN region TEXT",
            // Set while a person must decide; the deadline then flags instead of expiring.
            "ALTER TABLE sessions ADD COLUMN review_reason TEXT",
            "ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'contract'",
            // A keyed hash of the customer's normalised email: lookups without keeping it in clear twice.
            "ALTER TABLE sessions ADD COLUMN customer_key TEXT",
            """
            CREATE TABLE verified_customers (
                customer_key TEXT PRIMARY KEY,
                minimum_age INTEGER NOT NULL,
                verified_at {time} NOT NULL,
                order_id TEXT NOT NULL,
                revoked_at {time}
            )
            """,
            // Decisions that arrived before their order, applied when it does.
            """
            CREATE TABLE parked_decisions (
                id {id},
                order_id TEXT NOT NULL,
                decision {json} NOT NULL,
                received_at {time} NOT NULL,
                applied_at {time}
            )
            """,
            "CREATE INDEX parked_decisions_order ON parked_decisions (order_id) WHERE applied_at IS NULL",
        ]),
        Migration(version: 5, name: "console: operators, their sessions, customer links, resolved reviews", statements: [
            """
            CREATE TABLE users (
                name TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                disabled_at {time},
                created_at {time} NOT NULL,
                updated_at {time} NOT NULL
            )
            """,
            // A signed-in browser: the cookie's token is kept only as its SHA-256.
            """
            CREATE TABLE console_sessions (
                token_hash TEXT PRIMARY KEY,
                user_name TEXT NOT NULL,
                csrf_token TEXT NOT NULL,
                created_at {time} NOT NULL,
                expires_at {time} NOT NULL
            )
            """,
            "CREATE INDEX console_sessions_user ON console_sessions (user_name)",
            // The customer page's link: its token is this id with a keyed signature (never stored).
            "ALTER TABLE sessions ADD COLUMN link_id TEXT",
            "CREATE UNIQUE INDEX sessions_link_id ON sessions (link_id) WHERE link_id IS NOT NULL",
            "CREATE INDEX sessions_pending_deadline ON sessions (deadline) WHERE state = 'pending'",
            "CREATE INDEX sessions_decided ON sessions (decided_at) WHERE decided_at IS NOT NULL",
            "CREATE INDEX sessions_customer_key ON sessions (customer_key, created_at)",
            "ALTER TABLE reviews ADD COLUMN resolved_by TEXT",
            "ALTER TABLE reviews ADD COLUMN note TEXT",
        ]),
        Migration(version: 6, name: "the trace that caused each task", statements: [
            // The propagation headers (W3C traceparent with OpenTelemetry) of the traced work that
            // created the task, as JSON; a task's run links to that trace (TaskTracing). NULL when
            // tracing is off.
            "ALTER TABLE tasks ADD COLUMN trace_context TEXT",
        ]),
        Migration(version: 7, name: "customer data lifecycle", statements: [
            // When the session's personal data was erased (on request, or by retention).
            "ALTER TABLE sessions ADD COLUMN erased_at {time}",
            "CREATE INDEX tasks_finished ON tasks (finished_at) WHERE state IN ('succeeded', 'cancelled')",
            "CREATE INDEX webhook_events_received ON webhook_events (received_at, id)",
            "CREATE INDEX webhook_events_order ON webhook_events (order_id) WHERE order_id IS NOT NULL",
        ]),
        Migration(version: 8, name: "provider call attempts", statements: [
            // Written before each provider call and ended with its outcome, so a call cut off by a
            // crash shows as "outcome unknown, may have been sent" instead of leaving no trace.
            """
            CREATE TABLE provider_attempts (
                id {serial},
                task_id {bigint} NOT NULL,
                order_id TEXT,
                kind TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                owner TEXT,
                started_at {time} NOT NULL,
                ended_at {time},
                outcome TEXT,
                error TEXT
            )
            """,
            "CREATE INDEX provider_attempts_order ON provider_attempts (order_id, id)",
            "CREATE INDEX provider_attempts_task ON provider_attempts (task_id, attempt)",
            "CREATE INDEX provider_attempts_started ON provider_attempts (started_at, id)",
        ]),
        Migration(version: 9, name: "failure events still holding detail", statements: [
            // Retention empties the detail of failure events; without this the hourly pass would
            // walk every old event, emptied or not, through events_at, growing for ever.
            """
            CREATE INDEX events_detail ON events (at, id)
            WHERE type IN ('task.failed', 'task.dead', 'provider.call_repeated') AND data <> '{}'
            """,
        ]),
    ]
}
