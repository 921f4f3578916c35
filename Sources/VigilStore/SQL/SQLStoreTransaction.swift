import Foundation
import VigilCore
import VigilQueue

/// The flow's statements inside one write transaction, written once for both backends.
final class SQLStoreTransaction<Connection: SQLConnection>: StoreTransaction {
    let connection: Connection
    let dialect: SQLDialect
    let cipher: FieldCipher
    /// Rows written when the transaction closes, in as few statements as the dialect allows
    /// (one on PostgreSQL, with the transaction's notifications): event-log rows and outbox entries.
    private var events = DeferredInsert(into: "INSERT INTO events (order_id, type, at, data)")
    private var outbox = DeferredInsert(
        into: "INSERT INTO outbox (idempotency_key, provider, operation, order_id, task_id, mode, request, response, at)",
        conflict: " ON CONFLICT (idempotency_key) DO NOTHING")
    /// Rows per deferred INSERT, far below either database's limit on parameters.
    private static var maxDeferredRows: Int { 500 }

    init(connection: Connection, dialect: SQLDialect, cipher: FieldCipher) {
        self.connection = connection
        self.dialect = dialect
        self.cipher = cipher
    }

    /// Writes what was deferred to the end of the transaction. Called once, just before commit.
    func close() async throws {
        let inserts = [events, outbox].filter { !$0.isEmpty }
        for statement in dialect.closingStatements(inserts, connection.wakeQueues.sorted()) {
            _ = try await connection.query(statement)
        }
        events.rows.removeAll()
        events.binds.removeAll()
        outbox.rows.removeAll()
        outbox.binds.removeAll()
    }

    /// Adds a deferred row, writing the table's rows so far if there are many.
    private func deferRow(_ row: String, _ binds: [SQLValue], to insert: inout DeferredInsert) async throws {
        insert.rows.append(row)
        insert.binds += binds
        if insert.rows.count >= Self.maxDeferredRows {
            _ = try await connection.execute(insert.statement)
            insert.rows.removeAll()
            insert.binds.removeAll()
        }
    }

    func recordWebhook(_ w: StoredWebhook) async throws -> Bool {
        try await connection.execute(SQLStatement("""
            INSERT INTO webhook_events (provider, event_id, kind, order_id, payload, received_at)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING
            """, [.text(w.source.rawValue), .text(w.eventId), .text(w.kind), .text(w.orderId),
                  .json(try cipher.sealJSON(StoredJSON.external(w.payload),
                                            context: SealedPlace.webhook(provider: w.source.rawValue, eventId: w.eventId))),
                  .date(w.receivedAt)])) > 0
    }

    func session(orderId: String) async throws -> SessionRecord? {
        try await connection.query(SQLStatement(
            "SELECT \(Columns.session) FROM sessions WHERE order_id = ?\(dialect.lockForUpdate)", [.text(orderId)])
        ).first.map { try SessionRecord(row: $0, cipher: cipher) }
    }

    func session(verificationId: String) async throws -> SessionRecord? {
        try await connection.query(SQLStatement(
            "SELECT \(Columns.session) FROM sessions WHERE verification_id = ?\(dialect.lockForUpdate)", [.text(verificationId)])
        ).first.map { try SessionRecord(row: $0, cipher: cipher) }
    }

    func insertSession(_ s: SessionRecord) async throws -> Bool {
        try await connection.execute(SQLStatement("""
            INSERT INTO sessions (\(Columns.session))
            VALUES (\(Array(repeating: "?", count: 25).joined(separator: ", ")))
            ON CONFLICT (order_id) DO NOTHING
            """, try s.binds(cipher))) > 0
    }

    func updateSession(_ s: SessionRecord) async throws {
        var binds = Array(try s.binds(cipher).dropFirst())
        binds.append(.text(s.orderId))
        _ = try await connection.execute(SQLStatement("""
            UPDATE sessions SET state = ?, refund_status = ?, customer_email = ?, customer_name = ?,
                customer_id = ?, order_total = ?, currency = ?, payment_id = ?, verification_id = ?,
                verification_url = ?, deadline = ?, reminder_at = ?, created_at = ?, updated_at = ?,
                decided_at = ?, outcome_reason = ?, minimum_age = ?, age_rule = ?, of_age = ?, region = ?,
                review_reason = ?, source = ?, customer_key = ?, link_id = ?
            WHERE order_id = ?
            """, binds))
    }

    func enqueue(_ tasks: [NewTask], now: Date) async throws -> [Bool] {
        guard !tasks.isEmpty else { return [] }
        let insert = """
            INSERT INTO tasks (name, queue, kind, order_id, payload, state, attempts, scheduled_at, run_at,
                created_at, updated_at, trace_context)
            VALUES
            """
        // The trace that caused these tasks: the webhook's, or the cause of the task creating them.
        let cause = TaskTracing.causeForNewTask()
        func binds(_ t: NewTask) -> [SQLValue] {
            [.text(t.name), .text(t.queue), .text(t.kind), .text(t.orderId), .json(StoredJSON.text(t.payload)),
             .date(t.runAt), .date(t.runAt), .date(now), .date(now), .text(t.traceContext ?? cause)]
        }
        let row = "(?, ?, ?, ?, ?, 'scheduled', 0, ?, ?, ?, ?, ?)"
        var created: [Bool]
        if dialect.multiRowInsert, tasks.count > 1, tasks.count <= 100 {
            // One round trip: the names that went in come back.
            let rows = try await connection.query(SQLStatement(
                insert + Array(repeating: row, count: tasks.count).joined(separator: ", ")
                    + " ON CONFLICT (name) DO NOTHING RETURNING name",
                tasks.flatMap(binds)))
            let names = Set(try rows.map { try $0.text(required: "name") })
            created = tasks.map { names.contains($0.name) }
        } else {
            created = []
            created.reserveCapacity(tasks.count)
            for task in tasks {
                created.append(try await connection.execute(SQLStatement(
                    insert + row + " ON CONFLICT (name) DO NOTHING", binds(task))) > 0)
            }
        }
        for (task, new) in zip(tasks, created) where new { connection.wakeQueues.insert(task.queue) }
        return created
    }

    func cancelTasks(orderId: String, kinds: [String], now: Date) async throws -> Int {
        guard !kinds.isEmpty else { return 0 }
        let list = Array(repeating: "?", count: kinds.count).joined(separator: ", ")
        return try await connection.execute(SQLStatement("""
            UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_token = NULL, updated_at = ?, finished_at = ?
            WHERE order_id = ? AND kind IN (\(list)) AND state IN ('scheduled', 'retrying', 'running')
            """, [.date(now), .date(now), .text(orderId)] + kinds.map { .text($0) }))
    }

    func log(orderId: String?, type: String, at: Date, data: String) async throws {
        try await deferRow("(?, ?, ?, ?)", [.text(orderId), .text(type), .date(at), .json(StoredJSON.text(data))], to: &events)
    }

    func appendAudit(_ e: AuditRecord) async throws {
        _ = try await connection.execute(SQLStatement("""
            INSERT INTO audit_log (at, actor, action, target, outcome, ip, user_agent, request_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.date(e.at), .text(e.actor), .text(e.action), .text(e.target), .text(e.outcome),
                  .text(e.ip), .text(e.userAgent), .text(e.requestId)]))
    }

    func addReview(orderId: String?, reason: String, eventId: String?, at: Date) async throws {
        _ = try await connection.execute(SQLStatement(
            "INSERT INTO reviews (order_id, reason, event_id, created_at) VALUES (?, ?, ?, ?)",
            [.text(orderId), .text(reason), .text(eventId), .date(at)]))
    }

    func rememberCustomer(keys: [String], minimumAge: Int, verifiedAt: Date, orderId: String) async throws {
        for key in keys {
            // The highest minimum a customer ever passed stands; the time is the latest check's.
            _ = try await connection.execute(SQLStatement("""
                INSERT INTO verified_customers (\(Columns.verifiedCustomer)) VALUES (?, ?, ?, ?)
                ON CONFLICT (customer_key) DO UPDATE SET
                    minimum_age = CASE WHEN excluded.minimum_age > verified_customers.minimum_age
                        THEN excluded.minimum_age ELSE verified_customers.minimum_age END,
                    verified_at = excluded.verified_at, order_id = excluded.order_id, revoked_at = NULL
                """, [.text(key), .int(minimumAge), .date(verifiedAt), .text(orderId)]))
        }
    }

    func verifiedCustomer(keys: [String], since: Date) async throws -> VerifiedCustomer? {
        guard !keys.isEmpty else { return nil }
        let list = Array(repeating: "?", count: keys.count).joined(separator: ", ")
        return try await connection.query(SQLStatement("""
            SELECT \(Columns.verifiedCustomer) FROM verified_customers
            WHERE customer_key IN (\(list)) AND revoked_at IS NULL AND verified_at >= ?
            ORDER BY minimum_age DESC, verified_at DESC LIMIT 1
            """, keys.map { .text($0) } + [.date(since)])).first.map(VerifiedCustomer.init(row:))
    }

    func parkDecision(orderId: String, decision: String, at: Date) async throws {
        _ = try await connection.execute(SQLStatement(
            "INSERT INTO parked_decisions (order_id, decision, received_at) VALUES (?, ?, ?)",
            [.text(orderId), .json(try cipher.sealJSON(StoredJSON.text(decision), context: SealedPlace.parkedDecision(orderId: orderId))),
             .date(at)]))
    }

    func takeParkedDecisions(orderId: String, at: Date) async throws -> [ParkedDecision] {
        let rows = try await connection.query(SQLStatement(
            "SELECT \(Columns.parkedDecision) FROM parked_decisions WHERE order_id = ? AND applied_at IS NULL ORDER BY id",
            [.text(orderId)])).map { try ParkedDecision(row: $0, cipher: cipher) }
        if !rows.isEmpty {
            _ = try await connection.execute(SQLStatement(
                "UPDATE parked_decisions SET applied_at = ? WHERE order_id = ? AND applied_at IS NULL", [.date(at), .text(orderId)]))
        }
        return rows
    }

    func countActiveTasks(orderId: String, kinds: [String]) async throws -> Int {
        guard !kinds.isEmpty else { return 0 }
        let list = Array(repeating: "?", count: kinds.count).joined(separator: ", ")
        return try await connection.query(SQLStatement("""
            SELECT count(*) AS n FROM tasks WHERE order_id = ? AND kind IN (\(list)) AND state IN ('scheduled', 'retrying', 'running')
            """, [.text(orderId)] + kinds.map { .text($0) })).first?.int("n") ?? 0
    }

    func recordOutbox(_ e: OutboxRecord) async throws {
        let request = StoredJSON.text(e.request)
        let stored = e.requestIsPersonal
            ? try cipher.sealJSON(request, context: SealedPlace.outboxRequest(idempotencyKey: e.idempotencyKey)) : request
        try await deferRow("(?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            .text(e.idempotencyKey), .text(e.provider.rawValue), .text(e.operation.rawValue), .text(e.orderId), .int(e.taskId),
            .text(e.mode.rawValue), .json(stored), .json(e.response.map(StoredJSON.text)), .date(e.at),
        ], to: &outbox)
    }
}

/// JSON as stored, identically on both backends. PostgreSQL's `jsonb` refuses the escape
/// `\u0000` and its `text` a NUL byte, where SQLite keeps both; a payload carrying one must not be
/// refused for ever on one backend and kept on the other, so NUL becomes U+FFFD everywhere (the
/// drivers do the same for text values).
public enum StoredJSON {
    /// JSON Vigil wrote itself (event data, task payloads, outbox records): already valid.
    public static func text(_ value: String) -> String {
        value.contains("\\u0000") ? withoutNULEscapes(value) : value
    }

    /// JSON from outside (a webhook body): kept as a JSON string if it is not valid JSON.
    public static func external(_ value: String) -> String {
        if (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) != nil {
            return text(value)
        }
        var quoted = ""
        JSONCoding.appendString(value, to: &quoted)
        return quoted
    }

    /// Replaces each `\u0000` escape (not an escaped backslash followed by `u0000`) with `\ufffd`.
    static func withoutNULEscapes(_ json: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(json.utf8)
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\\"), i + 1 < bytes.count {
                if bytes[i + 1] == UInt8(ascii: "u"), i + 5 < bytes.count, bytes[(i + 2)...(i + 5)].elementsEqual("0000".utf8) {
                    out += Array("\\ufffd".utf8)
                    i += 6
                    continue
                }
                out += [byte, bytes[i + 1]]
                i += 2
                continue
            }
            out.append(byte)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// This text with each NUL replaced by U+FFFD: what both backends store (PostgreSQL cannot
    /// store NUL in text).
    public var withoutNUL: String {
        utf8.contains(0) ? String(unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : Character($0) }) : self
    }
}
