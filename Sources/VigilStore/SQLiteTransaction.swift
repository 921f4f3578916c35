import Foundation
import SQLiteNIO
import VigilCore
import VigilQueue

/// Statements inside one SQLite write transaction (the writer connection, under the lock).
final class SQLiteTransaction: StoreTransaction {
    let connection: SQLiteHandle
    /// Queues that got new work in this transaction: their workers are woken after commit.
    var wakeQueues: Set<String> = []
    /// Event-log rows appended so far, written by `finish()` in one statement.
    private var events: [SQLiteData] = []

    init(connection: SQLiteHandle) {
        self.connection = connection
    }

    /// Runs an UPDATE on a claimed task only while this worker still holds its lease.
    func fenced(_ task: ClaimedTask, _ update: String, _ binds: [SQLiteData]) throws -> Bool {
        let n = binds.count
        return try connection.execute(
            "\(update) WHERE id = ?\(n + 1) AND lease_token = ?\(n + 2) AND state = 'running'",
            binds + [.integer(SQLiteInt64(task.task.id)), .text(task.leaseToken)]).changes > 0
    }

    func recordWebhook(_ webhook: StoredWebhook) async throws -> Bool {
        try connection.execute("""
            INSERT INTO webhook_events (provider, event_id, kind, order_id, payload, received_at)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING
            """, [.text(webhook.provider), .text(webhook.eventId), .text(webhook.kind),
                  .optionalText(webhook.orderId), .text(webhook.payload), .ms(webhook.receivedAt)]).changes > 0
    }

    func session(orderId: String) async throws -> SessionRecord? {
        try connection.run("SELECT * FROM sessions WHERE order_id = ?", [.text(orderId)])
            .first?.sessionRecord()
    }

    func session(verificationId: String) async throws -> SessionRecord? {
        try connection.run("SELECT * FROM sessions WHERE verification_id = ?", [.text(verificationId)])
            .first?.sessionRecord()
    }

    func insertSession(_ s: SessionRecord) async throws -> Bool {
        try connection.execute("""
            INSERT INTO sessions (order_id, state, refund_status, customer_email, customer_name, customer_id,
                order_total, currency, payment_id, verification_id, verification_url, deadline, reminder_at,
                created_at, updated_at, decided_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (order_id) DO NOTHING
            """, Self.sessionBinds(s)).changes > 0
    }

    func updateSession(_ s: SessionRecord) async throws {
        let binds = Self.sessionBinds(s)
        _ = try connection.run("""
            UPDATE sessions SET state = ?2, refund_status = ?3, customer_email = ?4, customer_name = ?5,
                customer_id = ?6, order_total = ?7, currency = ?8, payment_id = ?9, verification_id = ?10,
                verification_url = ?11, deadline = ?12, reminder_at = ?13, created_at = ?14, updated_at = ?15,
                decided_at = ?16
            WHERE order_id = ?1
            """, binds)
    }

    private static func sessionBinds(_ s: SessionRecord) -> [SQLiteData] {
        [.text(s.orderId), .text(s.state.rawValue), .text(s.refundStatus.rawValue), .text(s.customerEmail),
         .optionalText(s.customerName), .optionalText(s.customerId), .text("\(s.orderTotal)"),
         .optionalText(s.currency), .optionalText(s.paymentId), .optionalText(s.verificationId),
         .optionalText(s.verificationURL), .ms(s.deadline), s.reminderAt.map { .ms($0) } ?? .null,
         .ms(s.createdAt), .ms(s.updatedAt), s.decidedAt.map { .ms($0) } ?? .null]
    }

    func enqueue(_ task: NewTask, now: Date) async throws -> EnqueueResult {
        let inserted = try connection.execute("""
            INSERT INTO tasks (name, queue, kind, order_id, payload, state, attempts, scheduled_at, run_at,
                created_at, updated_at)
            VALUES (?1, ?2, ?3, ?4, ?5, 'scheduled', 0, ?6, ?6, ?7, ?7)
            ON CONFLICT (name) DO NOTHING
            """, [.text(task.name), .text(task.queue), .text(task.kind), .optionalText(task.orderId),
                  .text(task.payload), .ms(task.runAt), .ms(now)])
        if inserted.changes > 0 {
            guard let row = try connection.run(
                "SELECT \(SQLiteTaskColumns.list) FROM tasks WHERE id = ?", [.integer(SQLiteInt64(inserted.lastRowId))]).first else {
                throw StoreError("task \(task.name) was inserted but cannot be read back")
            }
            wakeQueues.insert(task.queue)
            return .created(try row.taskRecord())
        }
        guard let row = try connection.run(
            "SELECT \(SQLiteTaskColumns.list) FROM tasks WHERE name = ?", [.text(task.name)]).first else {
            throw StoreError("task \(task.name) neither inserted nor found")
        }
        return .duplicate(try row.taskRecord())
    }

    /// One statement each: single-row inserts are SQLite's cheapest (a multi-row one needs a
    /// statement journal), and statements no longer cost a trip between threads.
    func enqueue(_ tasks: [NewTask], now: Date) async throws -> [EnqueueResult] {
        var results: [EnqueueResult] = []
        results.reserveCapacity(tasks.count)
        for task in tasks { results.append(try await enqueue(task, now: now)) }
        return results
    }

    func cancelTask(named name: String, now: Date) async throws -> Bool {
        try connection.execute("""
            UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_token = NULL,
                updated_at = ?1, finished_at = ?1
            WHERE name = ?2 AND state IN ('scheduled', 'retrying', 'running')
            """, [.ms(now), .text(name)]).changes > 0
    }

    /// Deferred to `finish()`, so the order transaction's event rows go in one statement.
    func appendEvent(orderId: String?, type: String, at: Date, data: String) async throws {
        events += [.optionalText(orderId), .text(type), .ms(at), .text(data)]
        // Stay far below SQLite's limit on parameters in one statement.
        if events.count >= 4 * 500 { try finish() }
    }

    /// Writes the deferred event-log rows; called at the end of the transaction, before it commits.
    func finish() throws {
        guard !events.isEmpty else { return }
        let rows = Array(repeating: "(?, ?, ?, ?)", count: events.count / 4).joined(separator: ", ")
        let binds = events
        events.removeAll()
        _ = try connection.run("INSERT INTO events (order_id, type, at, data) VALUES \(rows)", binds)
    }

    func appendAudit(_ e: AuditRecord) async throws {
        _ = try connection.run("""
            INSERT INTO audit_log (at, actor, action, target, outcome, ip, user_agent, request_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.ms(e.at), .text(e.actor), .text(e.action), .optionalText(e.target), .text(e.outcome),
                  .optionalText(e.ip), .optionalText(e.userAgent), .optionalText(e.requestId)])
    }

    func addReview(orderId: String?, reason: String, eventId: String?, at: Date) async throws {
        _ = try connection.run(
            "INSERT INTO reviews (order_id, reason, event_id, created_at) VALUES (?, ?, ?, ?)",
            [.optionalText(orderId), .text(reason), .optionalText(eventId), .ms(at)])
    }

    func recordOutbox(_ e: OutboxRecord) async throws -> OutboxRecord {
        // Inserted or already there, the row holding this key is the answer.
        try connection.execute("""
            INSERT INTO outbox (idempotency_key, provider, operation, order_id, task_id, mode, request, response, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING
            """, [.text(e.idempotencyKey), .text(e.provider), .text(e.operation), .optionalText(e.orderId),
                  e.taskId.map { .integer(SQLiteInt64($0)) } ?? .null, .text(e.mode), .text(e.request),
                  .optionalText(e.response), .ms(e.at)])
        guard let row = try connection.run(
            "SELECT * FROM outbox WHERE idempotency_key = ?", [.text(e.idempotencyKey)]).first else {
            throw StoreError("outbox entry \(e.idempotencyKey) neither inserted nor found")
        }
        return try row.outboxRecord()
    }
}

enum SQLiteTaskColumns {
    static let list = """
        id, name, queue, kind, order_id, payload, state, attempts, scheduled_at, first_attempt_at, \
        last_error, created_at, updated_at
        """
}

extension SQLiteData {
    static func ms(_ date: Date) -> SQLiteData { .integer(SQLiteInt64(date.millisecondsSince1970)) }
    static func int(_ value: Int) -> SQLiteData { .integer(SQLiteInt64(value)) }
    static func optionalText(_ value: String?) -> SQLiteData { value.map { .text($0) } ?? .null }
}

extension SQLiteResultRow {
    func string(_ name: String) -> String? {
        guard let data = column(name), !data.isNull else { return nil }
        return data.string
    }
    func int(_ name: String) -> Int? {
        guard let data = column(name), !data.isNull else { return nil }
        return data.integer.map { Int($0) }
    }
    func date(_ name: String) -> Date? {
        int(name).map { Date(millisecondsSince1970: Int64($0)) }
    }
    func required(_ name: String) throws -> String {
        guard let value = string(name) else { throw StoreError("column \(name) is missing or null") }
        return value
    }

    func taskRecord() throws -> TaskRecord {
        guard let state = TaskState(rawValue: try required("state")) else {
            throw StoreError("unknown task state in row: \(string("state") ?? "")")
        }
        return TaskRecord(
            id: Int64(int("id") ?? 0), name: try required("name"), queue: try required("queue"),
            kind: try required("kind"), orderId: string("order_id"), payload: try required("payload"),
            state: state, attempts: int("attempts") ?? 0, scheduledAt: date("scheduled_at") ?? .distantPast,
            firstAttemptAt: date("first_attempt_at"), lastError: string("last_error"),
            createdAt: date("created_at") ?? .distantPast, updatedAt: date("updated_at") ?? .distantPast)
    }

    func sessionRecord() throws -> SessionRecord {
        guard let state = SessionState(rawValue: try required("state")),
              let refund = RefundStatus(rawValue: try required("refund_status")) else {
            throw StoreError("unknown session state in row for order \(string("order_id") ?? "")")
        }
        return SessionRecord(
            orderId: try required("order_id"), state: state, refundStatus: refund,
            customerEmail: try required("customer_email"), customerName: string("customer_name"),
            customerId: string("customer_id"), orderTotal: Decimal(string: try required("order_total")) ?? 0,
            currency: string("currency"), paymentId: string("payment_id"),
            verificationId: string("verification_id"), verificationURL: string("verification_url"),
            deadline: date("deadline") ?? .distantPast, reminderAt: date("reminder_at"),
            createdAt: date("created_at") ?? .distantPast, updatedAt: date("updated_at") ?? .distantPast,
            decidedAt: date("decided_at"))
    }

    func eventRecord() throws -> EventRecord {
        EventRecord(id: Int64(int("id") ?? 0), orderId: string("order_id"), type: try required("type"),
                    at: date("at") ?? .distantPast, data: string("data") ?? "{}")
    }

    func outboxRecord() throws -> OutboxRecord {
        OutboxRecord(
            id: Int64(int("id") ?? 0), idempotencyKey: try required("idempotency_key"),
            provider: try required("provider"), operation: try required("operation"),
            orderId: string("order_id"), taskId: int("task_id").map { Int64($0) }, mode: try required("mode"),
            request: try required("request"), response: string("response"), at: date("at") ?? .distantPast)
    }
}
