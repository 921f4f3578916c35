import Foundation
import VigilCore

/// Provider call attempts: a row committed before each call and ended, in the transaction that
/// records the call's answer or failure, with its outcome.
extension SQLStore {
    public func startAttempt(_ a: ProviderAttempt) async throws -> Int64 {
        try SQLStatements.attemptId(try await driver.autocommit(SQLStatement(SQLStatements.insertAttempt, SQLStatements.binds(a))))
    }

    public func endAttempt(id: Int64, outcome: ProviderAttempt.Outcome, error: String?, at: Date) async throws {
        _ = try await driver.autocommit(SQLStatements.endAttempt(id: id, outcome: outcome, error: error, at: at))
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

    /// Deletes up to `limit` attempts started before `before` (retention, with finished tasks),
    /// except those of a task still to run: its next run needs them to name a repeat.
    public func pruneAttempts(before: Date, limit: Int) async throws -> Int {
        try await driver.autocommit(SQLStatement("""
            DELETE FROM provider_attempts WHERE id IN (
                SELECT a.id FROM provider_attempts a WHERE a.started_at < ? AND NOT EXISTS (
                    SELECT 1 FROM tasks t WHERE t.id = a.task_id AND t.state IN ('scheduled', 'retrying', 'running'))
                ORDER BY a.started_at, a.id LIMIT ?)
            RETURNING id
            """, [.date(before), .int(limit)])).count
    }
}

extension SQLStoreTransaction {
    func startAttempt(_ a: ProviderAttempt) async throws -> Int64 {
        try SQLStatements.attemptId(try await connection.query(SQLStatement(SQLStatements.insertAttempt, SQLStatements.binds(a))))
    }

    func endAttempt(id: Int64, outcome: ProviderAttempt.Outcome, error: String?, at: Date) async throws {
        _ = try await connection.execute(SQLStatements.endAttempt(id: id, outcome: outcome, error: error, at: at))
    }
}

/// The attempt statements, once for the store and its transactions.
enum SQLStatements {
    static let insertAttempt = """
        INSERT INTO provider_attempts (task_id, order_id, kind, attempt, owner, started_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id
        """

    static func attemptId(_ rows: [SQLRow]) throws -> Int64 {
        guard let row = rows.first else { throw StoreError("recording a provider call attempt returned no id") }
        return try row.int64(required: "id")
    }

    static func binds(_ a: ProviderAttempt) -> [SQLValue] {
        [.int(a.taskId), .text(a.orderId), .text(a.kind), .int(a.attempt), .text(a.owner), .date(a.startedAt)]
    }

    /// Ends one attempt, by its id: a task postponed without using up an attempt runs again
    /// under the same number, and each of its calls keeps its own row.
    static func endAttempt(id: Int64, outcome: ProviderAttempt.Outcome, error: String?, at: Date) -> SQLStatement {
        SQLStatement("UPDATE provider_attempts SET outcome = ?, error = ?, ended_at = ? WHERE id = ? AND outcome IS NULL",
                     [.text(outcome.rawValue), .text(error.map { String($0.prefix(500)) }), .date(at), .int(id)])
    }
}
