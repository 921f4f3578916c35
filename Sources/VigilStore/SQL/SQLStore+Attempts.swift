import Foundation
import VigilCore

/// Provider call attempts: a row committed before each call and ended, in the transaction that
/// records the call's answer or failure, with its outcome.
extension SQLStore {
    public func startAttempt(_ a: ProviderAttempt) async throws {
        _ = try await driver.autocommit(SQLStatement("""
            INSERT INTO provider_attempts (task_id, order_id, kind, attempt, owner, started_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id
            """, [.int(a.taskId), .text(a.orderId), .text(a.kind), .int(a.attempt), .text(a.owner), .date(a.startedAt)]))
    }

    public func attempts(orderId: String) async throws -> [ProviderAttempt] {
        try await driver.read(SQLStatement(
            "SELECT \(Columns.attempt) FROM provider_attempts WHERE order_id = ? ORDER BY id", [.text(orderId)]))
            .map(ProviderAttempt.init(row:))
    }

    public func attempts(taskId: Int64) async throws -> [ProviderAttempt] {
        try await driver.read(SQLStatement(
            "SELECT \(Columns.attempt) FROM provider_attempts WHERE task_id = ? ORDER BY attempt, id", [.int(taskId)]))
            .map(ProviderAttempt.init(row:))
    }

    /// Deletes up to `limit` attempts started before `before` (retention, with finished tasks).
    public func pruneAttempts(before: Date, limit: Int) async throws -> Int {
        try await driver.autocommit(SQLStatement("""
            DELETE FROM provider_attempts WHERE id IN (
                SELECT id FROM provider_attempts WHERE started_at < ? ORDER BY started_at, id LIMIT ?)
            RETURNING id
            """, [.date(before), .int(limit)])).count
    }
}

extension SQLStoreTransaction {
    func endAttempt(taskId: Int64, attempt: Int, outcome: ProviderAttempt.Outcome, error: String?, at: Date) async throws {
        _ = try await connection.execute(SQLStatement("""
            UPDATE provider_attempts SET outcome = ?, error = ?, ended_at = ? WHERE task_id = ? AND attempt = ? AND outcome IS NULL
            """, [.text(outcome.rawValue), .text(error.map { String($0.prefix(500)) }), .date(at), .int(taskId), .int(attempt)]))
    }
}
