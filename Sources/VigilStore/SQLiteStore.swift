import Foundation
import Logging
import NIOCore
import SQLiteNIO
import VigilCore
import VigilQueue

/// The embedded store: one SQLite file in WAL mode. One writer connection serialised by a lock
/// (SQLite allows a single writer; `BEGIN IMMEDIATE` takes the write lock up front so a
/// transaction never fails half-way on a lock upgrade), and one reader connection for the
/// admin API, which WAL lets run beside the writer.
///
/// Concurrent write transactions share one commit (`SQLiteCommitGroup`). Inside a batch the
/// statements run on the leader's thread (`SQLiteHandle.run`); only BEGIN, COMMIT and reads go
/// to a thread pool, because they can wait on a lock, a disk or a long scan.
public final class SQLiteStore: Store {
    public typealias Transaction = any StoreTransaction

    let writer: SQLiteHandle
    let reader: SQLiteHandle
    let writeLock = AsyncLock()
    let commits = SQLiteCommitGroup()
    public let wakeups = WakeupHub()
    public let path: String

    private init(path: String, writer: SQLiteHandle, reader: SQLiteHandle) {
        self.path = path
        self.writer = writer
        self.reader = reader
    }

    /// Opens (creating if needed) the database at `path`. Does not migrate.
    public static func open(path: String, logger: Logger = Logger(label: "vigil.sqlite")) async throws -> SQLiteStore {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError("cannot create the database folder \(directory): \(error.localizedDescription)")
            }
        }
        let writer = try await SQLiteHandle.open(path: path)
        // WAL lets readers run beside the writer; synchronous=FULL syncs the WAL on every commit,
        // so a transaction that returned is on disk even if the process or the machine dies next.
        for pragma in ["PRAGMA busy_timeout = 10000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
                       "PRAGMA foreign_keys = ON"] {
            _ = try await writer.query(pragma)
        }
        let reader = try await SQLiteHandle.open(path: path)
        for pragma in ["PRAGMA busy_timeout = 10000", "PRAGMA query_only = 1"] {
            _ = try await reader.query(pragma)
        }
        logger.debug("opened the SQLite database", metadata: ["path": "\(path)"])
        return SQLiteStore(path: path, writer: writer, reader: reader)
    }

    /// Nothing runs in the background for SQLite; waits until cancelled.
    public func run() async throws {
        let (idle, continuation) = AsyncStream<Never>.makeStream()
        for await _ in idle {}  // ends when this task is cancelled
        continuation.finish()
    }

    public func waitUntilReachable(timeout: TimeInterval) async throws {
        try await ping()
    }

    public func close() async throws {
        try? await writeLock.withLock {
            await writer.close()
        }
        await reader.close()
    }

    // MARK: Transactions

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) async throws -> T) async throws -> T {
        try await transaction { try await body($0) }
    }

    /// A write transaction on the writer connection, group-committed with any that run at the
    /// same time (see `SQLiteCommitGroup`); returns after the commit.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteTransaction) async throws -> T) async throws -> T {
        try await commits.submit(body) { bodies in await self.commit(bodies) }
    }

    /// Runs a batch of transactions as one SQLite transaction with one commit, and wakes the
    /// workers of queues that got work. A batch first runs straight through; if one of its
    /// transactions throws, it is rolled back and run again with a savepoint around each, so the
    /// failing one is undone alone. (Savepoints cost two statements a transaction, and failures
    /// are rare.)
    private func commit(_ bodies: [@Sendable (SQLiteTransaction) async throws -> any Sendable]) async
        -> [Result<any Sendable, any Error>] {
        // The leader may be a request that has since timed out; its batch runs regardless.
        await writeLock.lockIgnoringCancellation()
        defer { writeLock.unlock() }
        let outcome: (results: [Result<any Sendable, any Error>], queues: Set<String>)
        if let straight = await commitStraight(bodies) {
            outcome = straight
        } else {
            outcome = await commitInSavepoints(bodies)
        }
        if !outcome.queues.isEmpty { wakeups.wake(queues: outcome.queues) }
        return outcome.results
    }

    /// The batch without savepoints; nil when one of its transactions threw (all rolled back).
    private func commitStraight(_ bodies: [@Sendable (SQLiteTransaction) async throws -> any Sendable]) async
        -> (results: [Result<any Sendable, any Error>], queues: Set<String>)? {
        var values: [any Sendable] = []
        var queues: Set<String> = []
        do {
            _ = try await writer.query("BEGIN IMMEDIATE")
        } catch {
            return (bodies.map { _ in .failure(error) }, [])
        }
        for body in bodies {
            let tx = SQLiteTransaction(connection: writer)
            do {
                values.append(try await body(tx))
                try tx.finish()
                queues.formUnion(tx.wakeQueues)
            } catch {
                _ = try? await writer.query("ROLLBACK")
                if bodies.count == 1 { return ([.failure(error)], []) }
                return nil
            }
        }
        do {
            _ = try await writer.query("COMMIT")
        } catch {
            _ = try? await writer.query("ROLLBACK")
            return (bodies.map { _ in .failure(error) }, [])
        }
        return (values.map { .success($0) }, queues)
    }

    /// The batch with each transaction in a savepoint of its own.
    private func commitInSavepoints(_ bodies: [@Sendable (SQLiteTransaction) async throws -> any Sendable]) async
        -> (results: [Result<any Sendable, any Error>], queues: Set<String>) {
        var results: [Result<any Sendable, any Error>] = []
        var queues: Set<String> = []
        do {
            _ = try await writer.query("BEGIN IMMEDIATE")
            for body in bodies {
                let tx = SQLiteTransaction(connection: writer)
                _ = try writer.run("SAVEPOINT vigil_tx")
                do {
                    let value = try await body(tx)
                    try tx.finish()
                    _ = try writer.run("RELEASE vigil_tx")
                    results.append(.success(value))
                    queues.formUnion(tx.wakeQueues)
                } catch {
                    // Undo this transaction alone; if SQLite has already rolled back everything
                    // (a full disk, an I/O error), the savepoint is gone and the batch fails.
                    _ = try writer.run("ROLLBACK TO vigil_tx")
                    _ = try writer.run("RELEASE vigil_tx")
                    results.append(.failure(error))
                }
            }
            _ = try await writer.query("COMMIT")
        } catch {
            _ = try? await writer.query("ROLLBACK")
            return (bodies.map { _ in .failure(error) }, [])
        }
        return (results, queues)
    }

    /// Group-commit figures, for metrics and benchmarks.
    public var groupCommitStats: GroupCommitStats { commits.stats }

    // MARK: Migrations

    public func migrationStatus() async throws -> MigrationStatus {
        let exists = try await reader.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        let applied: [Int] = exists.isEmpty ? [] : try await reader.query(
            "SELECT version FROM schema_migrations ORDER BY version").compactMap { $0.int("version") }
        let known = Set(SQLiteMigrations.all.map(\.version))
        return MigrationStatus(
            applied: applied,
            pending: SQLiteMigrations.all.filter { !applied.contains($0.version) },
            unknown: applied.filter { !known.contains($0) })
    }

    public func migrate() async throws -> [Int] {
        try await writeLock.withLock {
            _ = try await writer.query("BEGIN IMMEDIATE")
            do {
                _ = try await writer.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)
                    """)
                let applied = Set(try await writer.query("SELECT version FROM schema_migrations")
                    .compactMap { $0.int("version") })
                let known = Set(SQLiteMigrations.all.map(\.version))
                if let newer = applied.subtracting(known).max() {
                    throw StoreError("the database has schema version \(newer), newer than this vigil knows (\(known.max() ?? 0)); run a newer vigil")
                }
                var done: [Int] = []
                for migration in SQLiteMigrations.all where !applied.contains(migration.version) {
                    for statement in migration.statements { _ = try await writer.query(statement) }
                    _ = try await writer.query(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        [.int(migration.version), .text(migration.name), .ms(Date())])
                    done.append(migration.version)
                }
                _ = try await writer.query("COMMIT")
                // Cached statements were prepared against the old schema (`SELECT *` would keep
                // its old columns' names).
                writer.clearStatementCache()
                reader.clearStatementCache()
                return done
            } catch {
                _ = try? await writer.query("ROLLBACK")
                throw error
            }
        }
    }

    public func ping() async throws {
        _ = try await reader.query("SELECT 1")
    }

    // MARK: Task queue

    public func claimTasks(queue: String, limit: Int, owner: String, now: Date, leaseDuration: TimeInterval) async throws -> [ClaimedTask] {
        guard limit > 0 else { return [] }
        let token = UUID().uuidString
        let leaseUntil = now.addingTimeInterval(leaseDuration)
        let rows = try await transaction { tx in
            try tx.connection.run("""
                UPDATE tasks SET state = 'running', attempts = attempts + 1,
                    first_attempt_at = COALESCE(first_attempt_at, ?1), lease_owner = ?2, lease_token = ?3,
                    run_at = ?4, updated_at = ?1
                WHERE id IN (
                    SELECT id FROM tasks
                    WHERE queue = ?5 AND state IN ('scheduled', 'retrying', 'running') AND run_at <= ?1
                    ORDER BY run_at, id LIMIT ?6)
                RETURNING \(SQLiteTaskColumns.list)
                """, [.ms(now), .text(owner), .text(token), .ms(leaseUntil), .text(queue), .int(limit)])
        }
        return try rows.map { ClaimedTask(task: try $0.taskRecord(), leaseToken: token, leaseExpiresAt: leaseUntil) }
            .sorted { ($0.task.scheduledAt, $0.task.id) < ($1.task.scheduledAt, $1.task.id) }
    }

    public func nextDueTime(queue: String) async throws -> Date? {
        let rows = try await reader.query("""
            SELECT MIN(run_at) AS next FROM tasks
            WHERE queue = ? AND state IN ('scheduled', 'retrying', 'running')
            """, [.text(queue)])
        return rows.first?.date("next")
    }

    public func completeTask(_ task: ClaimedTask, now: Date,
                             then: @escaping @Sendable (any StoreTransaction) async throws -> Void) async throws -> Bool {
        try await transaction { sql in
            let done = try sql.fenced(task, """
                UPDATE tasks SET state = 'succeeded', lease_owner = NULL, lease_token = NULL,
                    updated_at = ?1, finished_at = ?1
                """, [.ms(now)])
            if done { try await then(sql) }
            return done
        }
    }

    public func failTask(_ task: ClaimedTask, error: String, retryAt: Date?, now: Date,
                         then: @escaping @Sendable (any StoreTransaction) async throws -> Void) async throws -> Bool {
        try await transaction { sql in
            let done: Bool
            if let retryAt {
                done = try sql.fenced(task, """
                    UPDATE tasks SET state = 'retrying', lease_owner = NULL, lease_token = NULL,
                        run_at = ?2, scheduled_at = ?2, last_error = ?3, updated_at = ?1
                    """, [.ms(now), .ms(retryAt), .text(error)])
            } else {
                done = try sql.fenced(task, """
                    UPDATE tasks SET state = 'dead', lease_owner = NULL, lease_token = NULL,
                        last_error = ?3, updated_at = ?1, finished_at = ?1, run_at = ?2
                    """, [.ms(now), .ms(now), .text(error)])
            }
            if done { try await then(sql) }
            return done
        }
    }

    public func releaseTask(_ task: ClaimedTask, runAt: Date, note: String?, now: Date) async throws {
        _ = try await transaction { sql in
            try sql.fenced(task, """
                UPDATE tasks SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'scheduled' END,
                    attempts = attempts - 1,
                    first_attempt_at = CASE WHEN attempts > 1 THEN first_attempt_at ELSE NULL END,
                    last_error = COALESCE(?3, last_error),
                    lease_owner = NULL, lease_token = NULL, run_at = ?2,
                    scheduled_at = CASE WHEN ?2 > ?1 THEN ?2 ELSE scheduled_at END, updated_at = ?1
                """, [.ms(now), .ms(max(runAt, now)), .optionalText(note)])
        }
    }

    public func extendLease(_ task: ClaimedTask, until: Date) async throws -> Bool {
        try await transaction { sql in
            try sql.fenced(task, "UPDATE tasks SET run_at = ?1", [.ms(until)])
        }
    }

    public func cancelTask(id: Int64, now: Date) async throws -> Bool {
        try await transaction { sql in
            try !sql.connection.run("""
                UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_token = NULL,
                    updated_at = ?1, finished_at = ?1
                WHERE id = ?2 AND state IN ('scheduled', 'retrying', 'running') RETURNING id
                """, [.ms(now), .integer(SQLiteInt64(id))]).isEmpty
        }
    }

    public func retryDeadTask(id: Int64, now: Date) async throws -> Bool {
        try await transaction { sql in
            let rows = try sql.connection.run("""
                UPDATE tasks SET state = 'scheduled', attempts = 0, first_attempt_at = NULL, last_error = NULL,
                    run_at = ?1, scheduled_at = ?1, updated_at = ?1, finished_at = NULL
                WHERE id = ?2 AND state = 'dead' RETURNING queue
                """, [.ms(now), .integer(SQLiteInt64(id))])
            for row in rows { if let q = row.string("queue") { sql.wakeQueues.insert(q) } }
            return !rows.isEmpty
        }
    }

    // MARK: Reads

    public func session(orderId: String) async throws -> SessionRecord? {
        try await reader.query("SELECT * FROM sessions WHERE order_id = ?", [.text(orderId)]).first?.sessionRecord()
    }

    public func sessions(state: SessionState?, since: Date?, until: Date?, after cursor: SessionCursor?,
                         limit: Int) async throws -> [SessionRecord] {
        try await reader.query("""
            SELECT * FROM sessions
            WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at < ?3)
                AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND order_id < ?5))
            ORDER BY created_at DESC, order_id DESC LIMIT ?6
            """, [state.map { .text($0.rawValue) } ?? .null, since.map { .ms($0) } ?? .null, until.map { .ms($0) } ?? .null,
                  cursor.map { .ms($0.createdAt) } ?? .null, cursor.map { .text($0.orderId) } ?? .null, .int(limit)]
        ).map { try $0.sessionRecord() }
    }

    public func tasks(orderId: String) async throws -> [TaskRecord] {
        try await reader.query(
            "SELECT \(SQLiteTaskColumns.list) FROM tasks WHERE order_id = ? ORDER BY id", [.text(orderId)]
        ).map { try $0.taskRecord() }
    }

    public func task(named name: String) async throws -> TaskRecord? {
        try await reader.query("SELECT \(SQLiteTaskColumns.list) FROM tasks WHERE name = ?", [.text(name)])
            .first?.taskRecord()
    }

    public func task(id: Int64) async throws -> TaskRecord? {
        try await reader.query("SELECT \(SQLiteTaskColumns.list) FROM tasks WHERE id = ?", [.int(Int(id))])
            .first?.taskRecord()
    }

    public func tasks(queue: String?, state: TaskState?, limit: Int) async throws -> [TaskRecord] {
        try await reader.query("""
            SELECT \(SQLiteTaskColumns.list) FROM tasks
            WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR state = ?2)
            ORDER BY id LIMIT ?3
            """, [queue.map { .text($0) } ?? .null, state.map { .text($0.rawValue) } ?? .null, .int(limit)]
        ).map { try $0.taskRecord() }
    }

    public func events(orderId: String) async throws -> [EventRecord] {
        try await reader.query("SELECT * FROM events WHERE order_id = ? ORDER BY id", [.text(orderId)])
            .map { try $0.eventRecord() }
    }

    public func events(since: Date?, until: Date?, afterId: Int64, limit: Int) async throws -> [EventRecord] {
        try await reader.query("""
            SELECT * FROM events
            WHERE at >= ?1 AND at < ?2 AND id > ?3
            ORDER BY id LIMIT ?4
            """, [.ms(since ?? .distantPast), .ms(until ?? .distantFuture), .integer(SQLiteInt64(afterId)), .int(limit)]
        ).map { try $0.eventRecord() }
    }

    public func outbox(orderId: String) async throws -> [OutboxRecord] {
        try await reader.query("SELECT * FROM outbox WHERE order_id = ? ORDER BY id", [.text(orderId)])
            .map { try $0.outboxRecord() }
    }

    public func outbox(idempotencyKey: String) async throws -> OutboxRecord? {
        try await reader.query("SELECT * FROM outbox WHERE idempotency_key = ?", [.text(idempotencyKey)])
            .first?.outboxRecord()
    }

    public func reviews(limit: Int) async throws -> [ReviewRecord] {
        try await reader.query(
            "SELECT * FROM reviews WHERE resolved_at IS NULL ORDER BY id LIMIT ?", [.int(limit)]
        ).map { row in
            ReviewRecord(id: Int64(row.int("id") ?? 0), orderId: row.string("order_id"),
                         reason: row.string("reason") ?? "", eventId: row.string("event_id"),
                         createdAt: row.date("created_at") ?? .distantPast)
        }
    }

    public func queueStats(queues: [String], now: Date) async throws -> [QueueStat] {
        var stats: [QueueStat] = []
        for queue in queues {
            let row = try await reader.query("""
                SELECT
                    (SELECT count(*) FROM tasks WHERE queue = ?1 AND state IN ('scheduled', 'retrying', 'running') AND run_at <= ?2) AS due,
                    (SELECT min(run_at) FROM tasks WHERE queue = ?1 AND state IN ('scheduled', 'retrying', 'running') AND run_at <= ?2) AS oldest,
                    (SELECT count(*) FROM tasks WHERE queue = ?1 AND state = 'running' AND run_at > ?2) AS running,
                    (SELECT count(*) FROM tasks WHERE queue = ?1 AND state = 'dead') AS dead
                """, [.text(queue), .ms(now)]).first
            stats.append(QueueStat(queue: queue, due: row?.int("due") ?? 0, oldestDue: row?.date("oldest"),
                                   running: row?.int("running") ?? 0, dead: row?.int("dead") ?? 0))
        }
        return stats
    }

    public func claimIdempotencyKey(_ key: String, scope: String, actor: String, now: Date) async throws -> IdempotentRequest {
        try await transaction { tx in
            let sql = tx.connection
            let inserted = try sql.run("""
                INSERT INTO admin_requests (idempotency_key, scope, actor, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key
                """, [.text(key), .text(scope), .text(actor), .ms(now)])
            if !inserted.isEmpty { return .claimed }
            guard let row = try sql.run(
                "SELECT scope, status, body FROM admin_requests WHERE idempotency_key = ?", [.text(key)]).first else {
                return .inProgress
            }
            let stored = row.string("scope") ?? ""
            if stored != scope { return .mismatch(scope: stored) }
            guard let status = row.int("status") else { return .inProgress }
            return .answered(status: status, body: row.string("body") ?? "")
        }
    }

    public func answerIdempotencyKey(_ key: String, status: Int, body: String) async throws {
        try await transaction { tx in
            _ = try tx.connection.run(
                "UPDATE admin_requests SET status = ?, body = ? WHERE idempotency_key = ?", [.int(status), .text(body), .text(key)])
        }
    }

    public func releaseIdempotencyKey(_ key: String) async throws {
        try await transaction { tx in
            _ = try tx.connection.run(
                "DELETE FROM admin_requests WHERE idempotency_key = ? AND status IS NULL", [.text(key)])
        }
    }

    public func audit(limit: Int) async throws -> [AuditRecord] {
        try await reader.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [.int(limit)]).map { row in
            AuditRecord(id: Int64(row.int("id") ?? 0), at: row.date("at") ?? .distantPast, actor: row.string("actor") ?? "",
                        action: row.string("action") ?? "", target: row.string("target"), outcome: row.string("outcome") ?? "",
                        ip: row.string("ip"), userAgent: row.string("user_agent"), requestId: row.string("request_id"))
        }
    }
}
