enum PostgresMigrations {
    /// Timestamps are `timestamptz`, JSON is `jsonb`, money is `numeric`.
    static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", statements: [
            """
            CREATE TABLE sessions (
                order_id text PRIMARY KEY,
                state text NOT NULL,
                refund_status text NOT NULL,
                customer_email text NOT NULL,
                customer_name text,
                customer_id text,
                order_total numeric NOT NULL,
                currency text,
                payment_id text,
                verification_id text,
                verification_url text,
                deadline timestamptz NOT NULL,
                reminder_at timestamptz,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                decided_at timestamptz
            )
            """,
            "CREATE UNIQUE INDEX sessions_verification_id ON sessions (verification_id) WHERE verification_id IS NOT NULL",
            "CREATE INDEX sessions_state_created ON sessions (state, created_at)",
            """
            CREATE TABLE webhook_events (
                id bigserial PRIMARY KEY,
                provider text NOT NULL,
                event_id text NOT NULL,
                kind text NOT NULL,
                order_id text,
                payload jsonb NOT NULL,
                received_at timestamptz NOT NULL,
                UNIQUE (provider, event_id)
            )
            """,
            """
            CREATE TABLE tasks (
                id bigserial PRIMARY KEY,
                name text NOT NULL UNIQUE,
                queue text NOT NULL,
                kind text NOT NULL,
                order_id text,
                payload jsonb NOT NULL,
                state text NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                scheduled_at timestamptz NOT NULL,
                run_at timestamptz NOT NULL,
                first_attempt_at timestamptz,
                lease_owner text,
                lease_token text,
                last_error text,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                finished_at timestamptz
            )
            """,
            // The claim's index: only active tasks are in it, so millions of finished tasks cost
            // nothing, and a claim is an index range scan from the front whatever is pending.
            "CREATE INDEX tasks_due ON tasks (queue, run_at, id) WHERE state IN ('scheduled', 'retrying', 'running')",
            "CREATE INDEX tasks_order ON tasks (order_id) WHERE order_id IS NOT NULL",
            "CREATE INDEX tasks_queue_state ON tasks (queue, state, id)",
            """
            CREATE TABLE events (
                id bigserial PRIMARY KEY,
                order_id text,
                type text NOT NULL,
                at timestamptz NOT NULL,
                data jsonb NOT NULL
            )
            """,
            "CREATE INDEX events_order ON events (order_id, id)",
            "CREATE INDEX events_at ON events (at, id)",
            """
            CREATE TABLE outbox (
                id bigserial PRIMARY KEY,
                idempotency_key text NOT NULL UNIQUE,
                provider text NOT NULL,
                operation text NOT NULL,
                order_id text,
                task_id bigint,
                mode text NOT NULL,
                request jsonb NOT NULL,
                response jsonb,
                at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX outbox_order ON outbox (order_id, id)",
            """
            CREATE TABLE reviews (
                id bigserial PRIMARY KEY,
                order_id text,
                reason text NOT NULL,
                event_id text,
                created_at timestamptz NOT NULL,
                resolved_at timestamptz
            )
            """,
            "CREATE INDEX reviews_open ON reviews (created_at) WHERE resolved_at IS NULL",
        ]),
        Migration(version: 2, name: "audit log and idempotent admin requests", statements: [
            """
            CREATE TABLE audit_log (
                id bigserial PRIMARY KEY,
                at timestamptz NOT NULL,
                actor text NOT NULL,
                action text NOT NULL,
                target text,
                outcome text NOT NULL,
                ip text,
                user_agent text,
                request_id text
            )
            """,
            """
            CREATE TABLE admin_requests (
                idempotency_key text PRIMARY KEY,
                scope text NOT NULL,
                actor text NOT NULL,
                status integer,
                body text,
                created_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX audit_log_at ON audit_log (at, id)",
        ]),
    ]
}
