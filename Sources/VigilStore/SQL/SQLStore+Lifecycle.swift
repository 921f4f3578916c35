import Foundation
import VigilCore

/// The customer data lifecycle: retention in batches that hold no long lock, and erasure of one
/// order's personal data, leaving the audit trail (who did what, when) and the money facts.
extension SQLStore {
    /// Deletes up to `limit` succeeded or cancelled tasks finished before `before`.
    public func pruneFinishedTasks(before: Date, limit: Int) async throws -> Int {
        try await driver.autocommit(SQLStatement("""
            DELETE FROM tasks WHERE id IN (
                SELECT id FROM tasks WHERE state IN ('succeeded', 'cancelled') AND finished_at < ? ORDER BY finished_at LIMIT ?)
            RETURNING id
            """, [.date(before), .int(limit)])).count
    }

    /// Empties up to `limit` webhook payloads received before `before` (the row stays: it is the
    /// delivery's idempotency record).
    public func redactWebhookPayloads(before: Date, limit: Int) async throws -> Int {
        try await driver.autocommit(SQLStatement("""
            UPDATE webhook_events SET payload = '{}' WHERE id IN (
                SELECT id FROM webhook_events WHERE received_at < ? AND payload <> '{}' ORDER BY received_at, id LIMIT ?)
            RETURNING id
            """, [.date(before), .int(limit)])).count
    }

    /// The event types whose detail may quote what came from outside (a provider's error text):
    /// emptied after the retention period, the row (what happened to which order, when) kept.
    /// Written into the SQL as constants, as in migration 9's partial index, which the planner
    /// uses only when the query states the same condition.
    static var detailedEventTypes: String { "'task.failed', 'task.dead', 'provider.call_repeated'" }

    /// Empties the detail of up to `limit` such events from before `before`.
    public func redactEventDetail(before: Date, limit: Int) async throws -> Int {
        try await driver.autocommit(SQLStatement("""
            UPDATE events SET data = '{}' WHERE id IN (
                SELECT id FROM events WHERE at < ? AND type IN (\(Self.detailedEventTypes)) AND data <> '{}'
                ORDER BY at, id LIMIT ?)
            RETURNING id
            """, [.date(before), .int(limit)])).count
    }

    /// Deletes up to `limit` stored admin API answers (idempotency keys) created before `before`:
    /// a replay that late is not a retry.
    public func pruneAdminAnswers(before: Date, limit: Int) async throws -> Int {
        try await driver.autocommit(SQLStatement("""
            DELETE FROM admin_requests WHERE idempotency_key IN (
                SELECT idempotency_key FROM admin_requests WHERE created_at < ? ORDER BY created_at LIMIT ?)
            RETURNING idempotency_key
            """, [.date(before), .int(limit)])).count
    }

    /// Orders decided before `before` whose personal data is still held.
    public func ordersToErase(decidedBefore before: Date, limit: Int) async throws -> [String] {
        try await driver.read(SQLStatement("""
            SELECT order_id FROM sessions WHERE decided_at < ? AND erased_at IS NULL ORDER BY decided_at LIMIT ?
            """, [.date(before), .int(limit)])).map { try $0.text(required: "order_id") }
    }

    public func eraseOrder(_ orderId: String, at: Date) async throws -> ErasureResult {
        try await transaction { tx in
            let c = tx.connection
            guard let row = try await c.query(SQLStatement(
                "SELECT state, erased_at FROM sessions WHERE order_id = ?", [.text(orderId)])).first else { return .notFound }
            let state = try row.enum(SessionState.self, "state")
            guard state.isFinal else { return .pending }
            if try row.date("erased_at") != nil { return .alreadyErased }
            _ = try await c.execute(SQLStatement("""
                UPDATE sessions SET customer_email = '', customer_name = NULL, customer_id = NULL, customer_key = NULL,
                    verification_url = NULL, region = NULL, erased_at = ?, updated_at = ? WHERE order_id = ?
                """, [.date(at), .date(at), .text(orderId)]))
            _ = try await c.execute(SQLStatement("UPDATE webhook_events SET payload = '{}' WHERE order_id = ?", [.text(orderId)]))
            _ = try await c.execute(SQLStatement(
                "UPDATE outbox SET request = '{}' WHERE order_id = ?",
                [.text(orderId)]))
            _ = try await c.execute(SQLStatement("UPDATE outbox SET response = '{}' WHERE order_id = ? AND response IS NOT NULL", [.text(orderId)]))
            _ = try await c.execute(SQLStatement("UPDATE tasks SET payload = '{}' WHERE order_id = ? AND state NOT IN ('scheduled', 'retrying', 'running')",
                                                 [.text(orderId)]))
            _ = try await c.execute(SQLStatement("DELETE FROM verified_customers WHERE order_id = ?", [.text(orderId)]))
            // A provider's error text may quote what was sent.
            _ = try await c.execute(SQLStatement("UPDATE provider_attempts SET error = NULL WHERE order_id = ?", [.text(orderId)]))
            _ = try await c.execute(SQLStatement(
                "UPDATE events SET data = '{}' WHERE order_id = ? AND type IN (\(Self.detailedEventTypes))", [.text(orderId)]))
            _ = try await c.execute(SQLStatement("DELETE FROM parked_decisions WHERE order_id = ?", [.text(orderId)]))
            _ = try await c.execute(SQLStatement(
                "INSERT INTO events (order_id, type, at, data) VALUES (?, 'customer.data_erased', ?, '{}')", [.text(orderId), .date(at)]))
            return .erased
        }
    }
}
