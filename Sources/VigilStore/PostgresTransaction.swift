import Foundation
import Logging
import PostgresNIO
import VigilCore
import VigilQueue

/// Statements inside one PostgreSQL transaction, each a named prepared statement. Every value is a
/// bind parameter: string interpolation into `PostgresSQL` produces `$n` placeholders, never SQL
/// text.
final class PostgresTransaction: StoreTransaction {
    let connection: PostgresConnection
    let statements: PostgresStatements
    var wakeQueues: Set<String> = []
    /// Event-log rows appended so far, written by `finish()` in one statement.
    private var events: [(orderId: String?, type: String, at: Date, data: String)] = []

    init(connection: PostgresConnection, statements: PostgresStatements) {
        self.connection = connection
        self.statements = statements
    }

    func rows(_ sql: PostgresSQL) async throws -> [PostgresResultRow] {
        try await statements.execute(sql, on: connection)
    }

    func run(_ sql: PostgresSQL) async throws {
        _ = try await statements.execute(sql, on: connection)
    }

    /// Wakes every listening instance's workers for `queue` when (and only if) this transaction
    /// commits: `finish()` sends one NOTIFY per queue.
    func notify(queue: String) async throws {
        wakeQueues.insert(queue)
    }

    /// Writes what was deferred to the end of the transaction, in one round trip: the event-log
    /// rows, as one multi-row INSERT, and the notifications. Called just before COMMIT; every value
    /// is still a bind parameter.
    func finish() async throws {
        try await writeDeferred(notify: true)
    }

    private func writeDeferred(notify: Bool) async throws {
        let queues = notify ? wakeQueues.sorted() : []
        guard !events.isEmpty || !queues.isEmpty else { return }
        var sql = PostgresSQL()
        if !events.isEmpty {
            var rows: [String] = []
            for event in events {
                rows.append("(\(sql.bind(event.orderId)), \(sql.bind(event.type)), \(sql.bind(event.at)), \(sql.bind(PostgresJSON.text(event.data)))::jsonb)")
            }
            // A data-modifying WITH runs whether or not the query reads it.
            sql.append("WITH logged AS (INSERT INTO events (order_id, type, at, data) VALUES \(rows.joined(separator: ", "))) ")
            events.removeAll()
        }
        if queues.isEmpty {
            sql.append("SELECT 1")
        } else {
            let channel = sql.bind(PostgresStore.channel)
            var calls: [String] = []
            for queue in queues {
                calls.append("pg_notify(\(channel), \(sql.bind(queue)))")
            }
            sql.append("SELECT " + calls.joined(separator: ", "))
        }
        try await run(sql)
    }

    /// Runs an UPDATE that must say `WHERE \(fence: task)`: it changes the claimed task only while
    /// this worker still holds its lease. True when it did.
    func fenced(_ sql: PostgresSQL) async throws -> Bool {
        try await !rows(sql).isEmpty
    }

    func recordWebhook(_ w: StoredWebhook) async throws -> Bool {
        try await !rows("""
            INSERT INTO webhook_events (provider, event_id, kind, order_id, payload, received_at)
            VALUES (\(w.provider), \(w.eventId), \(w.kind), \(w.orderId), \(PostgresJSON.text(w.payload))::jsonb, \(w.receivedAt))
            ON CONFLICT (provider, event_id) DO NOTHING RETURNING id
            """).isEmpty
    }

    func session(orderId: String) async throws -> SessionRecord? {
        try await rows("SELECT \(unescaped: PostgresSessionColumns.list) FROM sessions WHERE order_id = \(orderId) FOR UPDATE")
            .first.map(PostgresRows.session)
    }

    func session(verificationId: String) async throws -> SessionRecord? {
        try await rows("SELECT \(unescaped: PostgresSessionColumns.list) FROM sessions WHERE verification_id = \(verificationId) FOR UPDATE")
            .first.map(PostgresRows.session)
    }

    func insertSession(_ s: SessionRecord) async throws -> Bool {
        try await !rows("""
            INSERT INTO sessions (order_id, state, refund_status, customer_email, customer_name, customer_id,
                order_total, currency, payment_id, verification_id, verification_url, deadline, reminder_at,
                created_at, updated_at, decided_at)
            VALUES (\(s.orderId), \(s.state.rawValue), \(s.refundStatus.rawValue), \(s.customerEmail), \(s.customerName),
                \(s.customerId), \("\(s.orderTotal)")::numeric, \(s.currency), \(s.paymentId), \(s.verificationId),
                \(s.verificationURL), \(s.deadline), \(s.reminderAt), \(s.createdAt), \(s.updatedAt), \(s.decidedAt))
            ON CONFLICT (order_id) DO NOTHING RETURNING order_id
            """).isEmpty
    }

    func updateSession(_ s: SessionRecord) async throws {
        try await run("""
            UPDATE sessions SET state = \(s.state.rawValue), refund_status = \(s.refundStatus.rawValue),
                customer_email = \(s.customerEmail), customer_name = \(s.customerName), customer_id = \(s.customerId),
                order_total = \("\(s.orderTotal)")::numeric, currency = \(s.currency), payment_id = \(s.paymentId),
                verification_id = \(s.verificationId), verification_url = \(s.verificationURL), deadline = \(s.deadline),
                reminder_at = \(s.reminderAt), created_at = \(s.createdAt), updated_at = \(s.updatedAt),
                decided_at = \(s.decidedAt)
            WHERE order_id = \(s.orderId)
            """)
    }

    func enqueue(_ task: NewTask, now: Date) async throws -> EnqueueResult {
        let inserted = try await rows("""
            INSERT INTO tasks (name, queue, kind, order_id, payload, state, attempts, scheduled_at, run_at, created_at, updated_at)
            VALUES (\(task.name), \(task.queue), \(task.kind), \(task.orderId), \(PostgresJSON.text(task.payload))::jsonb,
                'scheduled', 0, \(task.runAt), \(task.runAt), \(now), \(now))
            ON CONFLICT (name) DO NOTHING
            RETURNING \(unescaped: PostgresTaskColumns.list())
            """)
        if let row = inserted.first {
            try await notify(queue: task.queue)
            return .created(try PostgresRows.task(row))
        }
        guard let row = try await rows("SELECT \(unescaped: PostgresTaskColumns.list()) FROM tasks WHERE name = \(task.name)").first else {
            throw StoreError("task \(task.name) neither inserted nor found")
        }
        return .duplicate(try PostgresRows.task(row))
    }

    func enqueue(_ tasks: [NewTask], now: Date) async throws -> [EnqueueResult] {
        // One statement for a handful (an order's three timers); one each for many, to stay far
        // below the database's limit on parameters.
        guard (2...100).contains(tasks.count) else {
            var results: [EnqueueResult] = []
            for task in tasks { results.append(try await enqueue(task, now: now)) }
            return results
        }
        var sql = PostgresSQL()
        var values: [String] = []
        for task in tasks {
            let runAt = sql.bind(task.runAt), at = sql.bind(now)
            values.append("""
                (\(sql.bind(task.name)), \(sql.bind(task.queue)), \(sql.bind(task.kind)), \(sql.bind(task.orderId)), \
                \(sql.bind(PostgresJSON.text(task.payload)))::jsonb, 'scheduled', 0, \(runAt), \(runAt), \(at), \(at))
                """)
        }
        // Only placeholders and fixed text go into the SQL; every value is a bind parameter.
        sql.append("""
            INSERT INTO tasks (name, queue, kind, order_id, payload, state, attempts, scheduled_at, run_at, created_at, updated_at)
            VALUES \(values.joined(separator: ", "))
            ON CONFLICT (name) DO NOTHING
            RETURNING \(PostgresTaskColumns.list())
            """)
        let inserted = try await rows(sql)
        var created: [String: TaskRecord] = [:]
        for row in inserted {
            let record = try PostgresRows.task(row)
            created[record.name] = record
            try await notify(queue: record.queue)
        }
        var results: [EnqueueResult] = []
        for task in tasks {
            if let record = created[task.name] {
                results.append(.created(record))
            } else {
                results.append(try await enqueue(task, now: now))  // finds the existing one
            }
        }
        return results
    }

    func cancelTask(named name: String, now: Date) async throws -> Bool {
        try await !rows("""
            UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_token = NULL, updated_at = \(now), finished_at = \(now)
            WHERE name = \(name) AND state IN ('scheduled', 'retrying', 'running') RETURNING id
            """).isEmpty
    }

    /// Deferred to `finish()`: the order transaction's event rows cost one round trip, not one each.
    func appendEvent(orderId: String?, type: String, at: Date, data: String) async throws {
        events.append((orderId, type, at, data))
        // Stay far below PostgreSQL's limit on parameters in one statement.
        if events.count >= 500 { try await writeDeferred(notify: false) }
    }

    func appendAudit(_ e: AuditRecord) async throws {
        try await run("""
            INSERT INTO audit_log (at, actor, action, target, outcome, ip, user_agent, request_id)
            VALUES (\(e.at), \(e.actor), \(e.action), \(e.target), \(e.outcome), \(e.ip), \(e.userAgent), \(e.requestId))
            """)
    }

    func addReview(orderId: String?, reason: String, eventId: String?, at: Date) async throws {
        try await run(
            "INSERT INTO reviews (order_id, reason, event_id, created_at) VALUES (\(orderId), \(reason), \(eventId), \(at))")
    }

    func recordOutbox(_ e: OutboxRecord) async throws -> OutboxRecord {
        let inserted = try await rows("""
            INSERT INTO outbox (idempotency_key, provider, operation, order_id, task_id, mode, request, response, at)
            VALUES (\(e.idempotencyKey), \(e.provider), \(e.operation), \(e.orderId), \(e.taskId), \(e.mode),
                \(PostgresJSON.text(e.request))::jsonb, \(e.response.map(PostgresJSON.text))::jsonb, \(e.at))
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING \(unescaped: PostgresOutboxColumns.list)
            """)
        if let row = inserted.first { return try PostgresRows.outbox(row) }
        guard let row = try await rows(
            "SELECT \(unescaped: PostgresOutboxColumns.list) FROM outbox WHERE idempotency_key = \(e.idempotencyKey)").first else {
            throw StoreError("outbox entry \(e.idempotencyKey) neither inserted nor found")
        }
        return try PostgresRows.outbox(row)
    }
}

enum PostgresJSON {
    /// Stored JSON must be valid JSON; anything else is kept as a JSON string rather than rejected.
    static func text(_ value: String) -> String {
        if (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) != nil { return value }
        return JSONCoding.objectAny([value]).dropFirst().dropLast().description
    }
}

enum PostgresTaskColumns {
    static func list(_ alias: String? = nil) -> String {
        let p = alias.map { "\($0)." } ?? ""
        return ["id", "name", "queue", "kind", "order_id", "payload::text AS payload", "state", "attempts", "scheduled_at",
                "first_attempt_at", "last_error", "created_at", "updated_at"].map { p + $0 }.joined(separator: ", ")
    }
}

enum PostgresSessionColumns {
    static let list = """
        order_id, state, refund_status, customer_email, customer_name, customer_id, order_total::text AS order_total, \
        currency, payment_id, verification_id, verification_url, deadline, reminder_at, created_at, updated_at, decided_at
        """
}

enum PostgresOutboxColumns {
    static let list = """
        id, idempotency_key, provider, operation, order_id, task_id, mode, request::text AS request, \
        response::text AS response, at
        """
}

enum PostgresRows {
    static func task(_ r: PostgresResultRow) throws -> TaskRecord {
        let stateText = try r["state"].decode(String.self)
        guard let state = TaskState(rawValue: stateText) else { throw StoreError("unknown task state \(stateText)") }
        return TaskRecord(
            id: try r["id"].decode(Int64.self), name: try r["name"].decode(String.self),
            queue: try r["queue"].decode(String.self), kind: try r["kind"].decode(String.self),
            orderId: try r["order_id"].decode(String?.self), payload: try r["payload"].decode(String.self),
            state: state, attempts: try r["attempts"].decode(Int.self), scheduledAt: try r["scheduled_at"].decode(Date.self),
            firstAttemptAt: try r["first_attempt_at"].decode(Date?.self), lastError: try r["last_error"].decode(String?.self),
            createdAt: try r["created_at"].decode(Date.self), updatedAt: try r["updated_at"].decode(Date.self))
    }

    static func session(_ r: PostgresResultRow) throws -> SessionRecord {
        let stateText = try r["state"].decode(String.self), refundText = try r["refund_status"].decode(String.self)
        guard let state = SessionState(rawValue: stateText), let refund = RefundStatus(rawValue: refundText) else {
            throw StoreError("unknown session state \(stateText)/\(refundText)")
        }
        return SessionRecord(
            orderId: try r["order_id"].decode(String.self), state: state, refundStatus: refund,
            customerEmail: try r["customer_email"].decode(String.self), customerName: try r["customer_name"].decode(String?.self),
            customerId: try r["customer_id"].decode(String?.self),
            orderTotal: Decimal(string: try r["order_total"].decode(String.self)) ?? 0,
            currency: try r["currency"].decode(String?.self), paymentId: try r["payment_id"].decode(String?.self),
            verificationId: try r["verification_id"].decode(String?.self),
            verificationURL: try r["verification_url"].decode(String?.self), deadline: try r["deadline"].decode(Date.self),
            reminderAt: try r["reminder_at"].decode(Date?.self), createdAt: try r["created_at"].decode(Date.self),
            updatedAt: try r["updated_at"].decode(Date.self), decidedAt: try r["decided_at"].decode(Date?.self))
    }

    static func event(_ r: PostgresResultRow) throws -> EventRecord {
        EventRecord(id: try r["id"].decode(Int64.self), orderId: try r["order_id"].decode(String?.self),
                    type: try r["type"].decode(String.self), at: try r["at"].decode(Date.self),
                    data: try r["data"].decode(String.self))
    }

    static func outbox(_ r: PostgresResultRow) throws -> OutboxRecord {
        OutboxRecord(
            id: try r["id"].decode(Int64.self), idempotencyKey: try r["idempotency_key"].decode(String.self),
            provider: try r["provider"].decode(String.self), operation: try r["operation"].decode(String.self),
            orderId: try r["order_id"].decode(String?.self), taskId: try r["task_id"].decode(Int64?.self),
            mode: try r["mode"].decode(String.self), request: try r["request"].decode(String.self),
            response: try r["response"].decode(String?.self), at: try r["at"].decode(Date.self))
    }
}

extension PostgresSQL.StringInterpolation {
    /// `id = $n AND lease_token = $m AND state = 'running'`: the lease fence of a claimed task.
    mutating func appendInterpolation(fence task: ClaimedTask) {
        appendLiteral("id = ")
        appendInterpolation(task.task.id)
        appendLiteral(" AND lease_token = ")
        appendInterpolation(task.leaseToken)
        appendLiteral(" AND state = 'running'")
    }
}
