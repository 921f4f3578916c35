import Foundation
import Tracing
import VigilCore
import VigilQueue

/// The store, written once for both backends over a `SQLDriver`: every statement both databases
/// accept lives here, and each driver adds only its transactions, its reads and its dialect
/// (SQLite: `SQLiteDriver`; PostgreSQL: `PostgresDriver`).
public final class SQLStore<Driver: SQLDriver>: Store {
    public typealias Transaction = any StoreTransaction

    public let driver: Driver
    var dialect: SQLDialect { Driver.dialect }
    /// Task completions waiting to be written, many to a transaction (see `completeTask`).
    let completions: Batcher<Completion>
    /// Seals the columns that hold personal data (`SealedColumns`).
    public let cipher: FieldCipher

    public init(driver: Driver, cipher: FieldCipher = .development) {
        self.driver = driver
        self.cipher = cipher
        completions = Batcher(lanes: Driver.dialect.completionLanes)
    }

    /// Batches so far and the completions they held.
    public var completionStats: GroupCommitStats { completions.stats }

    public var wakeups: WakeupHub { driver.wakeups }
    public var connectionUse: ConnectionUse? { driver.connectionUse }
    public func run() async throws { try await driver.run() }
    public func waitUntilReachable(timeout: TimeInterval) async throws { try await driver.waitUntilReachable(timeout: timeout) }
    public func close() async throws { try await driver.close() }

    // MARK: Transactions

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) async throws -> T) async throws -> T {
        try await transaction { tx in try await body(tx) }
    }

    /// A write transaction whose deferred rows are written before it commits, in a span that
    /// ends when it has committed (or failed).
    func transaction<T: Sendable>(
        _ operation: String = "write",
        _ body: @escaping @Sendable (SQLStoreTransaction<Driver.Connection>) async throws -> T
    ) async throws -> T {
        try await traced(operation) { try await self.untracedTransaction(body) }
    }

    /// A span for one committed transaction of this store.
    func traced<T: Sendable>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let system = dialect.system
        return try await withSpan("store.transaction \(operation)", ofKind: .client) { span in
            span.updateAttributes { attributes in
                attributes["db.system.name"] = system
                attributes["db.operation.name"] = operation
            }
            return try await body()
        }
    }

    /// A write transaction without a span of its own. The body runs in the caller's trace
    /// context even when another caller's task runs it (SQLite's group commit), so the tasks it
    /// creates remember the right cause.
    func untracedTransaction<T: Sendable>(
        _ body: @escaping @Sendable (SQLStoreTransaction<Driver.Connection>) async throws -> T
    ) async throws -> T {
        let dialect = dialect, cipher = cipher
        let context = InstrumentationContext.current
        return try await driver.transaction { connection in
            try await InstrumentationContext.$current.withValue(context) {
                let tx = SQLStoreTransaction(connection: connection, dialect: dialect, cipher: cipher)
                let result = try await body(tx)
                try await tx.close()
                return result
            }
        }
    }

    // MARK: Migrations

    public func migrationStatus() async throws -> MigrationStatus {
        let present = try await driver.read(SQLStatement(dialect.tableExists, [.text("schema_migrations")]))
            .first?.int("present") ?? 0
        let applied = present > 0
            ? try await driver.read("SELECT version FROM schema_migrations ORDER BY version").map { try $0.int(required: "version") }
            : []
        return Self.status(applied: applied)
    }

    static func status(applied: [Int]) -> MigrationStatus {
        let known = Set(Schema.migrations.map(\.version))
        return MigrationStatus(applied: applied, pending: Schema.migrations.filter { !applied.contains($0.version) },
                               unknown: applied.filter { !known.contains($0) })
    }

    public func migrate() async throws -> [Int] {
        let dialect = dialect
        return try await driver.migrationTransaction { connection in
            _ = try await connection.execute(SQLStatement(dialect.render(ddl: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {time} NOT NULL)
                """)))
            let applied = Set(try await connection.query("SELECT version FROM schema_migrations")
                .map { try $0.int(required: "version") })
            let known = Set(Schema.migrations.map(\.version))
            if let newer = applied.subtracting(known).max() {
                throw StoreError("the database has schema version \(newer), newer than this vigil knows (\(known.max() ?? 0)); run a newer vigil")
            }
            var done: [Int] = []
            for migration in Schema.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    _ = try await connection.execute(SQLStatement(dialect.render(ddl: statement)))
                }
                _ = try await connection.execute(SQLStatement(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.int(migration.version), .text(migration.name), .date(Date())]))
                done.append(migration.version)
            }
            return done
        }
    }

    public func ping() async throws {
        _ = try await driver.read("SELECT 1 AS one")
    }

    // MARK: Task queue

    public func claimTasks(queue: String, limit: Int, owner: String, now: Date, leaseDuration: TimeInterval) async throws -> [ClaimedTask] {
        guard limit > 0 else { return [] }
        let token = UUID().uuidString
        let leaseUntil = now.addingTimeInterval(leaseDuration)
        let statement = SQLStatement(dialect.claimTasks, [
            .date(now), .text(owner), .text(token), .date(leaseUntil), .text(queue), .int(limit)])
        let rows = try await driver.autocommit(statement)
        return try rows.map { ClaimedTask(task: try TaskRecord(row: $0), leaseToken: token, leaseExpiresAt: leaseUntil) }
            .sorted { ($0.task.scheduledAt, $0.task.id) < ($1.task.scheduledAt, $1.task.id) }
    }

    public func nextDueTime(queue: String) async throws -> Date? {
        try await driver.read(SQLStatement("""
            SELECT run_at FROM tasks WHERE queue = ? AND state IN ('scheduled', 'retrying', 'running')
            ORDER BY run_at LIMIT 1
            """, [.text(queue)])).first?.date("run_at")
    }

    /// `update` applied to many claimed tasks at once, each only while its lease is held; returns
    /// the ids updated. The ids are listed twice on purpose: `id IN (...)` lets PostgreSQL find
    /// the rows with one index scan, and the (id, lease token) pairs then fence each one. Measured
    /// on 256 tasks: a chain of ORs took 7.5 ms (an index scan per pair) and a join with the
    /// pairs 41 ms (a scan of the table). `update`'s binds come first.
    static func fencedTasks(_ pairs: [(Int64, String)], _ update: String, _ binds: [SQLValue]) -> SQLStatement {
        let list = Array(repeating: "?", count: pairs.count).joined(separator: ", ")
        let rows = Array(repeating: "(?, ?)", count: pairs.count).joined(separator: ", ")
        return SQLStatement("""
            \(update) WHERE state = 'running' AND id IN (\(list)) AND (id, lease_token) IN (VALUES \(rows))
            RETURNING id
            """, binds + pairs.map { SQLValue.int($0.0) } + pairs.flatMap { [SQLValue.int($0.0), .text($0.1)] })
    }

    /// `WHERE` clause of an update to a claimed task: only while this worker holds its lease.
    static func fenced(_ update: String, _ binds: [SQLValue], _ task: ClaimedTask) -> SQLStatement {
        SQLStatement(update + " WHERE id = ? AND lease_token = ? AND state = 'running'",
                     binds + [.int(task.task.id), .text(task.leaseToken)])
    }

    /// One task's completion, waiting for its batch.
    struct Completion: Sendable {
        let task: ClaimedTask
        let now: Date
        let outcome: TaskOutcome<any StoreTransaction>
        /// The task run's trace context, restored around its outcome's writes (the batch may run
        /// in another task's).
        var context: InstrumentationContext? = InstrumentationContext.current
    }

    /// Completions arriving together are written together, River's batch completer style: one
    /// transaction, one fenced UPDATE for all their tasks, then each task's outcome. Alone, a
    /// completion is a batch of one, at once. A batch that fails (one outcome's writes throw) is
    /// rolled back and each completion then runs alone, so one bad outcome fails only its task.
    public func completeTask(_ task: ClaimedTask, now: Date, outcome: TaskOutcome<any StoreTransaction>) async throws -> Bool {
        try await traced("complete_task") {
            try await completions.submit(Completion(task: task, now: now, outcome: outcome)) { batch in
                await self.complete(batch)
            }
        }
    }

    func complete(_ batch: [Completion]) async -> [Result<any Sendable, any Error>] {
        if batch.count > 1, let held = try? await untracedTransaction({ tx in try await Self.write(batch, in: tx) }) {
            return held.map { .success($0) }
        }
        var results: [Result<any Sendable, any Error>] = []
        for completion in batch {
            results.append(await Result { try await untracedTransaction { tx in try await Self.write([completion], in: tx)[0] } })
        }
        return results
    }

    /// Marks the batch's tasks succeeded where their lease still holds, writes every outcome's
    /// record, and applies the outcomes of the tasks whose lease held. Returns, in order, whether
    /// each lease held.
    static func write(_ batch: [Completion], in tx: SQLStoreTransaction<Driver.Connection>) async throws -> [Bool] {
        let now = batch.map(\.now).max() ?? Date()
        // The statement's shape varies only with the batch size, padded to a power of two (a
        // repeated pair changes nothing), so a handful of prepared statements serve every batch.
        var pairs = batch.map { ($0.task.task.id, $0.task.leaseToken) }
        var size = 1
        while size < pairs.count { size *= 2 }
        while pairs.count < size, let last = pairs.last { pairs.append(last) }
        let rows = try await tx.connection.query(Self.fencedTasks(pairs, """
            UPDATE tasks SET state = 'succeeded', lease_owner = NULL, lease_token = NULL, updated_at = ?, finished_at = ?
            """, [.date(now), .date(now)]))
        let held = Set(try rows.map { try $0.int64(required: "id") })
        for completion in batch {
            try await InstrumentationContext.$current.withValue(completion.context) {
                if let record = completion.outcome.record { try await record(tx) }
                if held.contains(completion.task.task.id) { try await completion.outcome.apply(tx) }
            }
        }
        return batch.map { held.contains($0.task.task.id) }
    }

    public func failTask(_ task: ClaimedTask, error: String, retryAt: Date?, now: Date,
                         then: @escaping @Sendable (any StoreTransaction) async throws -> Void) async throws -> Bool {
        try await transaction("fail_task") { tx in
            let statement: SQLStatement
            if let retryAt {
                statement = Self.fenced("""
                    UPDATE tasks SET state = 'retrying', lease_owner = NULL, lease_token = NULL, run_at = ?, scheduled_at = ?,
                        last_error = ?, updated_at = ?
                    """, [.date(retryAt), .date(retryAt), .text(error), .date(now)], task)
            } else {
                statement = Self.fenced("""
                    UPDATE tasks SET state = 'dead', lease_owner = NULL, lease_token = NULL, last_error = ?, updated_at = ?,
                        finished_at = ?, run_at = ?
                    """, [.text(error), .date(now), .date(now), .date(now)], task)
            }
            let done = try await tx.connection.execute(statement) > 0
            if done { try await then(tx) }
            return done
        }
    }

    public func releaseTask(_ task: ClaimedTask, runAt: Date, note: String?, now: Date) async throws {
        let runAt = max(runAt, now)
        // A postponed task shows when it will run; one handed back at shutdown keeps its due time.
        let postponedTo: Date? = runAt > now ? runAt : nil
        _ = try await driver.autocommit(Self.fenced("""
            UPDATE tasks SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'scheduled' END, attempts = attempts - 1,
                first_attempt_at = CASE WHEN attempts > 1 THEN first_attempt_at ELSE NULL END,
                last_error = COALESCE(?, last_error), lease_owner = NULL, lease_token = NULL, run_at = ?,
                scheduled_at = COALESCE(?, scheduled_at), updated_at = ?
            """, [.text(note), .date(runAt), .date(postponedTo), .date(now)], task))
    }

    public func extendLeases(_ tasks: [ClaimedTask], until: Date) async throws -> Set<Int64> {
        guard !tasks.isEmpty else { return [] }
        var held: Set<Int64> = []
        // In chunks far below either database's limit on parameters.
        for chunk in stride(from: 0, to: tasks.count, by: 200).map({ Array(tasks[$0..<min($0 + 200, tasks.count)]) }) {
            let rows = try await driver.autocommit(Self.fencedTasks(chunk.map { ($0.task.id, $0.leaseToken) },
                                                                    "UPDATE tasks SET run_at = ?", [.date(until)]))
            for row in rows { held.insert(try row.int64(required: "id")) }
        }
        return held
    }

    public func cancelTask(id: Int64, now: Date) async throws -> Bool {
        try await !driver.autocommit(SQLStatement("""
            UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_token = NULL, updated_at = ?, finished_at = ?
            WHERE id = ? AND state IN ('scheduled', 'retrying', 'running') RETURNING id
            """, [.date(now), .date(now), .int(id)])).isEmpty
    }

    public func revokeVerifiedCustomer(keys: [String], at: Date) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        let list = Array(repeating: "?", count: keys.count).joined(separator: ", ")
        return try await driver.autocommit(SQLStatement("""
            UPDATE verified_customers SET revoked_at = ? WHERE customer_key IN (\(list)) AND revoked_at IS NULL RETURNING customer_key
            """, [.date(at)] + keys.map { .text($0) })).count
    }

    public func retryDeadTask(id: Int64, now: Date) async throws -> Bool {
        try await transaction("retry_task") { tx in
            let rows = try await tx.connection.query(SQLStatement("""
                UPDATE tasks SET state = 'scheduled', attempts = 0, first_attempt_at = NULL, last_error = NULL,
                    run_at = ?, scheduled_at = ?, updated_at = ?, finished_at = NULL
                WHERE id = ? AND state = 'dead' RETURNING queue
                """, [.date(now), .date(now), .date(now), .int(id)]))
            for row in rows { tx.connection.wakeQueues.insert(try row.text(required: "queue")) }
            return !rows.isEmpty
        }
    }

    // MARK: Reads

    public func session(orderId: String) async throws -> SessionRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.session) FROM sessions WHERE order_id = ?", [.text(orderId)]))
            .first.map { try SessionRecord(row: $0, cipher: cipher) }
    }

    public func sessions(state: SessionState?, since: Date?, until: Date?, after cursor: SessionCursor?,
                         limit: Int) async throws -> [SessionRecord] {
        let state = SQLValue.text(state?.rawValue), cursorAt = SQLValue.date(cursor?.createdAt)
        return try await driver.read(SQLStatement("""
            SELECT \(Columns.session) FROM sessions
            WHERE (? IS NULL OR state = ?) AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?)
                AND (? IS NULL OR created_at < ? OR (created_at = ? AND order_id < ?))
            ORDER BY created_at DESC, order_id DESC LIMIT ?
            """, [state, state, .date(since), .date(since), .date(until), .date(until),
                  cursorAt, cursorAt, cursorAt, .text(cursor?.orderId), .int(limit)])
        ).map { try SessionRecord(row: $0, cipher: cipher) }
    }

    public func tasks(orderId: String) async throws -> [TaskRecord] {
        try await driver.read(SQLStatement("SELECT \(Columns.task) FROM tasks WHERE order_id = ? ORDER BY id", [.text(orderId)]))
            .map(TaskRecord.init(row:))
    }

    public func task(named name: String) async throws -> TaskRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.task) FROM tasks WHERE name = ?", [.text(name)]))
            .first.map(TaskRecord.init(row:))
    }

    public func task(id: Int64) async throws -> TaskRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.task) FROM tasks WHERE id = ?", [.int(id)]))
            .first.map(TaskRecord.init(row:))
    }

    public func tasks(queue: String?, state: TaskState?, limit: Int) async throws -> [TaskRecord] {
        let queue = SQLValue.text(queue), state = SQLValue.text(state?.rawValue)
        return try await driver.read(SQLStatement("""
            SELECT \(Columns.task) FROM tasks
            WHERE (? IS NULL OR queue = ?) AND (? IS NULL OR state = ?)
            ORDER BY id LIMIT ?
            """, [queue, queue, state, state, .int(limit)])).map(TaskRecord.init(row:))
    }

    public func eventLog(orderId: String) async throws -> [EventLogEntry] {
        try await driver.read(SQLStatement("SELECT \(Columns.event) FROM events WHERE order_id = ? ORDER BY id", [.text(orderId)]))
            .map(EventLogEntry.init(row:))
    }

    public func eventLog(since: Date?, until: Date?, afterId: Int64, limit: Int) async throws -> [EventLogEntry] {
        try await driver.read(SQLStatement("""
            SELECT \(Columns.event) FROM events
            WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?) AND id > ?
            ORDER BY id LIMIT ?
            """, [.date(since), .date(since), .date(until), .date(until), .int(afterId), .int(limit)])
        ).map(EventLogEntry.init(row:))
    }

    public func outbox(orderId: String) async throws -> [OutboxRecord] {
        try await driver.read(SQLStatement("SELECT \(Columns.outbox) FROM outbox WHERE order_id = ? ORDER BY id", [.text(orderId)]))
            .map { try OutboxRecord(row: $0, cipher: cipher) }
    }

    public func outbox(idempotencyKey: String) async throws -> OutboxRecord? {
        try await driver.read(SQLStatement("SELECT \(Columns.outbox) FROM outbox WHERE idempotency_key = ?", [.text(idempotencyKey)]))
            .first.map { try OutboxRecord(row: $0, cipher: cipher) }
    }

    public func reviews(limit: Int) async throws -> [ReviewRecord] {
        try await driver.read(SQLStatement(
            "SELECT \(Columns.review) FROM reviews WHERE resolved_at IS NULL ORDER BY id LIMIT ?", [.int(limit)])
        ).map(ReviewRecord.init(row:))
    }

    public func queueStats(queues: [String], now: Date) async throws -> [QueueStat] {
        var stats: [QueueStat] = []
        for queue in queues {
            let q = SQLValue.text(queue), at = SQLValue.date(now)
            let row = try await driver.read(SQLStatement("""
                SELECT
                    (SELECT count(*) FROM tasks WHERE queue = ? AND state IN ('scheduled', 'retrying', 'running') AND run_at <= ?) AS due,
                    (SELECT min(run_at) FROM tasks WHERE queue = ? AND state IN ('scheduled', 'retrying', 'running') AND run_at <= ?) AS oldest,
                    (SELECT count(*) FROM tasks WHERE queue = ? AND state = 'running' AND run_at > ?) AS running,
                    (SELECT count(*) FROM tasks WHERE queue = ? AND state = 'dead') AS dead
                """, [q, at, q, at, q, at, q])).first
            stats.append(QueueStat(queue: queue, due: try row?.int("due") ?? 0, oldestDue: try row?.date("oldest"),
                                   running: try row?.int("running") ?? 0, dead: try row?.int("dead") ?? 0))
        }
        return stats
    }

    // MARK: Admin requests and audit

    public func claimIdempotencyKey(_ key: String, scope: String, actor: String, now: Date) async throws -> IdempotentRequest {
        try await driver.transaction { [cipher] connection in
            let inserted = try await connection.execute(SQLStatement("""
                INSERT INTO admin_requests (idempotency_key, scope, actor, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (idempotency_key) DO NOTHING
                """, [.text(key), .text(scope), .text(actor), .date(now)]))
            if inserted > 0 { return .claimed }
            guard let row = try await connection.query(SQLStatement(
                "SELECT scope, status, body FROM admin_requests WHERE idempotency_key = ?", [.text(key)])).first else {
                return .inProgress
            }
            let stored = try row.text(required: "scope")
            if stored != scope { return .mismatch(scope: stored) }
            guard let status = try row.int("status") else { return .inProgress }
            let body = try row.text("body") ?? ""
            return .answered(status: status, body: try cipher.open(body, context: SealedPlace.adminAnswer(key: key)))
        }
    }

    /// The answer is kept for replays; it can hold an order's email and provider requests, so it is sealed.
    public func answerIdempotencyKey(_ key: String, status: Int, body: String) async throws {
        let sealed = try cipher.seal(body, context: SealedPlace.adminAnswer(key: key))
        _ = try await driver.autocommit(SQLStatement(
            "UPDATE admin_requests SET status = ?, body = ? WHERE idempotency_key = ?", [.int(status), .text(sealed), .text(key)]))
    }

    public func releaseIdempotencyKey(_ key: String) async throws {
        _ = try await driver.autocommit(SQLStatement(
            "DELETE FROM admin_requests WHERE idempotency_key = ? AND status IS NULL", [.text(key)]))
    }

    public func audit(limit: Int) async throws -> [AuditRecord] {
        try await driver.read(SQLStatement("SELECT \(Columns.audit) FROM audit_log ORDER BY id DESC LIMIT ?", [.int(limit)]))
            .map(AuditRecord.init(row:))
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
