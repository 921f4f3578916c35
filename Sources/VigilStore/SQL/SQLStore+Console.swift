import Foundation
import VigilCore

/// What the console reads and writes beyond the flow: users and their sessions, searches, the
/// overview's figures, and resolving reviews.
extension SQLStore {
    // MARK: Users

    public func addUser(_ user: UserRecord) async throws -> Bool {
        try await driver.autocommit(SQLStatement("""
            INSERT INTO users (name, password_hash, role, disabled_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO NOTHING RETURNING name
            """, [.text(user.name), .text(user.passwordHash), .text(user.role.rawValue), .date(user.disabledAt),
                  .date(user.createdAt), .date(user.createdAt)])).count > 0
    }

    public func user(named name: String) async throws -> UserRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.user) FROM users WHERE name = ?", [.text(name)]))
            .first.map(UserRecord.init(row:))
    }

    public func users() async throws -> [UserRecord] {
        try await driver.read(SQLStatement("SELECT \(Columns.user) FROM users ORDER BY name")).map(UserRecord.init(row:))
    }

    public func setPassword(user name: String, hash: String, at: Date) async throws -> Bool {
        try await driver.transaction { connection in
            let changed = try await connection.execute(SQLStatement(
                "UPDATE users SET password_hash = ?, disabled_at = NULL, updated_at = ? WHERE name = ?",
                [.text(hash), .date(at), .text(name)])) > 0
            _ = try await connection.execute(SQLStatement("DELETE FROM console_sessions WHERE user_name = ?", [.text(name)]))
            return changed
        }
    }

    public func disableUser(_ name: String, at: Date) async throws -> Bool {
        try await driver.transaction { connection in
            let changed = try await connection.execute(SQLStatement(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, ?), updated_at = ? WHERE name = ?",
                [.date(at), .date(at), .text(name)])) > 0
            _ = try await connection.execute(SQLStatement("DELETE FROM console_sessions WHERE user_name = ?", [.text(name)]))
            return changed
        }
    }

    // MARK: Console sessions

    public func createConsoleSession(tokenHash: String, user: String, csrfToken: String, at: Date, expiresAt: Date) async throws {
        try await driver.transaction { connection in
            // Expired sessions go when new ones come: the table never grows past the live ones.
            _ = try await connection.execute(SQLStatement("DELETE FROM console_sessions WHERE expires_at < ?", [.date(at)]))
            _ = try await connection.execute(SQLStatement("""
                INSERT INTO console_sessions (token_hash, user_name, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
                """, [.text(tokenHash), .text(user), .text(csrfToken), .date(at), .date(expiresAt)]))
        }
    }

    public func consoleSession(tokenHash: String, now: Date) async throws -> ConsoleSession? {
        guard let row = try await driver.read(SQLStatement("""
            SELECT u.name, u.password_hash, u.role, u.disabled_at, u.created_at, s.csrf_token, s.expires_at
            FROM console_sessions s JOIN users u ON u.name = s.user_name
            WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL
            """, [.text(tokenHash), .date(now)])).first else { return nil }
        return ConsoleSession(user: try UserRecord(row: row), csrfToken: try row.text(required: "csrf_token"),
                              expiresAt: try row.date(required: "expires_at"))
    }

    public func endConsoleSession(tokenHash: String) async throws {
        _ = try await driver.autocommit(SQLStatement("DELETE FROM console_sessions WHERE token_hash = ?", [.text(tokenHash)]))
    }

    public func failedSignIns(user: String, ip: String?, since: Date) async throws -> (user: Int, ip: Int) {
        let row = try await driver.read(SQLStatement("""
            SELECT
                (SELECT count(*) FROM audit_log WHERE at >= ? AND action = 'console.sign_in' AND outcome LIKE 'rejected%' AND target = ?) AS by_user,
                (SELECT count(*) FROM audit_log WHERE at >= ? AND action = 'console.sign_in' AND outcome LIKE 'rejected%' AND ip = ?) AS by_ip
            """, [.date(since), .text(user), .date(since), .text(ip ?? "")])).first
        return (try row?.int("by_user") ?? 0, try row?.int("by_ip") ?? 0)
    }

    // MARK: Console reads

    public func session(linkId: String) async throws -> SessionRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.session) FROM sessions WHERE link_id = ?", [.text(linkId)]))
            .first.map { try SessionRecord(row: $0, cipher: cipher) }
    }

    public func sessions(customerKey: String, limit: Int) async throws -> [SessionRecord] {
        try await driver.read(SQLStatement("""
            SELECT \(Columns.session) FROM sessions WHERE customer_key = ? ORDER BY created_at DESC, order_id DESC LIMIT ?
            """, [.text(customerKey), .int(limit)])).map { try SessionRecord(row: $0, cipher: cipher) }
    }

    public func pendingSessions(deadlineBefore: Date, limit: Int) async throws -> [SessionRecord] {
        try await driver.read(SQLStatement("""
            SELECT \(Columns.session) FROM sessions WHERE state = 'pending' AND deadline < ? ORDER BY deadline LIMIT ?
            """, [.date(deadlineBefore), .int(limit)])).map { try SessionRecord(row: $0, cipher: cipher) }
    }

    public func overviewCounts(now: Date, dayStart: Date, horizon: Date) async throws -> OverviewCounts {
        var byState: [SessionState: Int] = [:]
        for row in try await driver.read(SQLStatement("SELECT state, count(*) AS n FROM sessions GROUP BY state")) {
            byState[try row.enum(SessionState.self, "state")] = try row.int(required: "n")
        }
        let row = try await driver.read(SQLStatement("""
            SELECT
                (SELECT count(*) FROM sessions WHERE state = 'pending' AND deadline < ?) AS due_soon,
                (SELECT count(*) FROM events WHERE at >= ? AND type = 'refund.completed') AS refunds,
                (SELECT count(*) FROM sessions WHERE refund_status = 'refund_failed') AS refunds_failed,
                (SELECT count(*) FROM reviews WHERE resolved_at IS NULL) AS reviews
            """, [.date(horizon), .date(dayStart)])).first
        return OverviewCounts(byState: byState, dueSoon: try row?.int("due_soon") ?? 0, refundsToday: try row?.int("refunds") ?? 0,
                              refundsFailed: try row?.int("refunds_failed") ?? 0, openReviews: try row?.int("reviews") ?? 0)
    }

    public func decidedSessions(since: Date, limit: Int) async throws -> [DecidedSession] {
        try await driver.read(SQLStatement("""
            SELECT state, created_at, decided_at FROM sessions WHERE decided_at >= ? ORDER BY decided_at DESC LIMIT ?
            """, [.date(since), .int(limit)])).map { row in
            DecidedSession(state: try row.enum(SessionState.self, "state"), createdAt: try row.date(required: "created_at"),
                           decidedAt: try row.date(required: "decided_at"))
        }
    }

    public func review(id: Int64) async throws -> ReviewRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.review) FROM reviews WHERE id = ?", [.int(id)]))
            .first.map(ReviewRecord.init(row:))
    }

    public func resolveReview(id: Int64, by actor: String, note: String, at: Date) async throws -> Bool {
        try await driver.autocommit(SQLStatement("""
            UPDATE reviews SET resolved_at = ?, resolved_by = ?, note = ? WHERE id = ? AND resolved_at IS NULL RETURNING id
            """, [.date(at), .text(actor), .text(note), .int(id)])).count > 0
    }

    public func audit(beforeId: Int64?, limit: Int) async throws -> [AuditRecord] {
        try await driver.read(SQLStatement("""
            SELECT \(Columns.audit) FROM audit_log WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?
            """, [.int(beforeId), .int(beforeId), .int(limit)])).map(AuditRecord.init(row:))
    }
}

extension SQLStore {
    public func webhooks(orderId: String, limit: Int) async throws -> [StoredWebhook] {
        try await driver.read(SQLStatement("""
            SELECT \(StoredWebhook.columns) FROM webhook_events WHERE order_id = ?
            ORDER BY id LIMIT ?
            """, [.text(orderId), .int(limit)])).map { try StoredWebhook(row: $0, cipher: cipher) }
    }
}

extension SQLStore {
    /// Hands every `running` task back to the queue, due now. Only for a process that owns the
    /// database alone (SQLite's `vigil serve`, holding `SQLiteServeLock`): whatever is running
    /// then was running in a process that died, and need not wait out its lease.
    public func reclaimRunningTasks(now: Date) async throws -> Int {
        try await transaction { tx in
            let rows = try await tx.connection.query(SQLStatement("""
                UPDATE tasks SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'scheduled' END,
                    lease_owner = NULL, lease_token = NULL, run_at = ?, updated_at = ?,
                    last_error = 'the process running it ended; taken back at start'
                WHERE state = 'running' RETURNING queue
                """, [.date(now), .date(now)]))
            for row in rows { tx.connection.wakeQueues.insert(try row.text(required: "queue")) }
            return rows.count
        }
    }
}
