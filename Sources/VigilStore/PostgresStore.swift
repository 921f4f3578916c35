import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization
import VigilCore
import VigilQueue

/// Where and how to reach PostgreSQL.
public struct PostgresSettings: Sendable {
    public enum TLSMode: String, Sendable { case disable, require, verifyFull = "verify-full" }
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var poolMax: Int
    public var connectTimeout: TimeInterval
    public var idleTimeout: TimeInterval
    /// Longest wait for one statement's answer (migrations wait longer).
    public var queryTimeout: TimeInterval
    /// Whether statements are prepared once per connection (not behind a transaction-mode pooler).
    public var preparedStatements: Bool

    public init(host: String, port: Int, user: String, password: String?, database: String, tls: TLSMode,
                poolMax: Int = 20, connectTimeout: TimeInterval = 10, idleTimeout: TimeInterval = 60,
                queryTimeout: TimeInterval = 30, preparedStatements: Bool = true) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.poolMax = poolMax
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.queryTimeout = queryTimeout
        self.preparedStatements = preparedStatements
    }

    var clientTLS: TLSConfiguration? {
        switch tls {
        case .disable:
            return nil
        case .require:
            // libpq's `require`: encrypted, certificate not checked.
            var c = TLSConfiguration.makeClientConfiguration()
            c.certificateVerification = .none
            return c
        case .verifyFull:
            return .makeClientConfiguration()
        }
    }

    var clientConfiguration: PostgresClient.Configuration {
        var config = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database,
            tls: clientTLS.map { .require($0) } ?? .disable)
        config.options.maximumConnections = poolMax
        config.options.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        config.options.connectionIdleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        return config
    }

    /// The same target for one connection outside the pool.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = try clientTLS.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
        var config = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        config.options.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        return config
    }
}

/// The production store: many instances share one PostgreSQL. Claims use `FOR UPDATE SKIP
/// LOCKED` so instances never block on each other's tasks; a commit that creates work sends a
/// NOTIFY that wakes every instance's sleeping worker for that queue.
public final class PostgresStore: Store {
    public typealias Transaction = any StoreTransaction

    static let channel = "vigil_tasks"
    /// Serialises concurrent migrations across instances (an arbitrary, fixed key).
    static let migrationLockKey: Int64 = 0x5649_4749_4C00

    let client: PostgresClient
    let settings: PostgresSettings
    let logger: Logger
    let statements: PostgresStatements
    public let wakeups = WakeupHub()
    private let leases = Mutex((inUse: 0, waiting: 0))

    public var connectionUse: ConnectionUse? {
        let now = leases.withLock { $0 }
        return ConnectionUse(inUse: now.inUse, waiting: now.waiting, max: settings.poolMax)
    }

    public init(settings: PostgresSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.statements = PostgresStatements(
            logger: logger, timeout: .milliseconds(Int64(settings.queryTimeout * 1000)),
            prepared: PostgresPreparedStatements(enabled: settings.preparedStatements))
        // The pool logs every failed connection attempt at info: during an outage that is a line
        // per retry. Vigil reports the outage itself (health, request and worker logs), so the
        // pool's own chatter is kept for debug runs.
        var poolLogger = logger
        if poolLogger.logLevel > .debug { poolLogger.logLevel = max(poolLogger.logLevel, .warning) }
        self.client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: poolLogger)
    }

    /// Runs the connection pool and the LISTEN loop until cancelled.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.listenForWork() }
        }
    }

    public func waitUntilReachable(timeout: TimeInterval) async throws {
        do {
            // One direct connection first: it fails with the reason (refused, authentication,
            // certificate), where the pool would only log it and keep retrying.
            let settings = settings, logger = logger
            let probe = try await withDeadline(timeout) {
                try await PostgresConnection.connect(configuration: try settings.connectionConfiguration(), id: 0, logger: logger)
            }
            try? await probe.close()
            try await withDeadline(timeout) { try await self.ping() }
        } catch {
            throw StoreError("cannot reach PostgreSQL at \(settings.host):\(settings.port)/\(settings.database) within \(DurationText.format(timeout)): \(Self.describe(error))")
        }
    }

    public func close() async throws {}

    /// Keeps one connection listening; on every (re)connect, wakes all workers in case a
    /// notification was missed while disconnected.
    func listenForWork() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    // A leased connection can be one that is closing (see PostgresStatements);
                    // prove it alive with a bounded query before waiting on it indefinitely.
                    try await statements.run("SELECT 1", on: connection)
                    try await connection.listen(on: Self.channel) { notifications in
                        failures = 0
                        wakeups.wakeAll()
                        for try await notification in notifications {
                            wakeups.wake(queues: [notification.payload])
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                logger.debug("LISTEN connection lost; reconnecting", metadata: ["error": "\(Self.describe(error))"])
            }
            let delay = min(10, 0.2 * pow(2, Double(min(failures, 6))))
            try? await TimerSleep.sleep(for: delay)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let pg = error as? PSQLError {
            if let message = pg.serverInfo?[.message] { return message }
            if let underlying = pg.underlying { return "\(pg.code): \(underlying)" }
            return "\(pg.code)"
        }
        // Prepared statements run through postgres-nio's older API, which reports this type.
        if let pg = error as? PostgresError { return pg.description }
        return "\(error)"
    }

    // MARK: Transactions

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) async throws -> T) async throws -> T {
        try await transaction { try await body($0) }
    }

    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> T) async throws -> T {
        let statements = statements
        let (result, queues) = try await withConnection { connection in
            let tx = PostgresTransaction(connection: connection, statements: statements)
            let result = try await statements.transaction(on: connection) {
                let result = try await body(tx)
                try await tx.finish()
                return result
            }
            return (result, tx.wakeQueues)
        }
        if !queues.isEmpty { wakeups.wake(queues: queues) }
        return result
    }

    /// Leases a pooled connection for `body`, giving up when none can be had within the connect
    /// timeout. postgres-nio queues a lease until a connection opens, which while the server is
    /// down is forever; failing instead lets a request answer 503 and a worker back off.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leased = LeaseFlag()
        let timeout = settings.connectTimeout
        leases.withLock { $0.waiting += 1 }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                defer {
                    self.leases.withLock { leases in
                        if leased.isSet { leases.inUse -= 1 } else { leases.waiting -= 1 }
                    }
                }
                return try await self.client.withConnection { connection in
                    self.leases.withLock { leases in
                        leases.waiting -= 1
                        leases.inUse += 1
                    }
                    leased.set()
                    return try await body(connection)
                }
            }
            group.addTask {
                try await TimerSleep.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
                // The timer fired: fail unless the lease was granted and the body is running.
                if !leased.isSet {
                    throw StoreError("PostgreSQL at \(settings.host):\(settings.port) gave no connection within \(DurationText.format(timeout)); it is down or overloaded")
                }
            }
            throw CancellationError()
        }
    }

    // MARK: Migrations

    public func migrationStatus() async throws -> MigrationStatus {
        let exists = try await rows("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        let present = try exists.first?["present"].decode(Bool.self) ?? false
        let applied = present ? try await rows("SELECT version FROM schema_migrations ORDER BY version")
            .map { try $0["version"].decode(Int.self) } : []
        let known = Set(PostgresMigrations.all.map(\.version))
        return MigrationStatus(
            applied: applied,
            pending: PostgresMigrations.all.filter { !applied.contains($0.version) },
            unknown: applied.filter { !known.contains($0) })
    }

    public func migrate() async throws -> [Int] {
        // A migration may build indexes over large tables: allow it far longer than a query.
        let statements = statements.waiting(.hours(1))
        return try await withConnection { connection in
            try await statements.transaction(on: connection) {
                // Several instances may start at once: the first takes the lock and migrates, the
                // others wait here and then find nothing pending.
                try await statements.run("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", on: connection)
                try await statements.run("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)
                    """, on: connection)
                let applied = Set(try await statements.rows("SELECT version FROM schema_migrations", on: connection)
                    .map { try $0.makeRandomAccess()["version"].decode(Int.self) })
                let known = Set(PostgresMigrations.all.map(\.version))
                if let newer = applied.subtracting(known).max() {
                    throw StoreError("the database has schema version \(newer), newer than this vigil knows (\(known.max() ?? 0)); run a newer vigil")
                }
                var done: [Int] = []
                for migration in PostgresMigrations.all where !applied.contains(migration.version) {
                    for statement in migration.statements {
                        try await statements.run(PostgresQuery(unsafeSQL: statement), on: connection)
                    }
                    try await statements.run("""
                        INSERT INTO schema_migrations (version, name, applied_at)
                        VALUES (\(migration.version), \(migration.name), now())
                        """, on: connection)
                    done.append(migration.version)
                }
                return done
            }
        }
    }

    public func ping() async throws {
        let statements = statements
        try await withConnection { try await statements.run("SELECT 1", on: $0) }
    }

    // MARK: Task queue

    public func claimTasks(queue: String, limit: Int, owner: String, now: Date, leaseDuration: TimeInterval) async throws -> [ClaimedTask] {
        guard limit > 0 else { return [] }
        let token = UUID().uuidString
        let leaseUntil = now.addingTimeInterval(leaseDuration)
        let claimed = try await rows("""
            WITH due AS (
                SELECT id FROM tasks
                WHERE queue = \(queue) AND state IN ('scheduled', 'retrying', 'running') AND run_at <= \(now)
                ORDER BY run_at, id LIMIT \(limit)
                FOR UPDATE SKIP LOCKED)
            UPDATE tasks t SET state = 'running', attempts = t.attempts + 1,
                first_attempt_at = COALESCE(t.first_attempt_at, \(now)), lease_owner = \(owner),
                lease_token = \(token), run_at = \(leaseUntil), updated_at = \(now)
            FROM due WHERE t.id = due.id
            RETURNING \(unescaped: PostgresTaskColumns.list("t"))
            """)
        return try claimed.map { ClaimedTask(task: try PostgresRows.task($0), leaseToken: token, leaseExpiresAt: leaseUntil) }
            .sorted { ($0.task.scheduledAt, $0.task.id) < ($1.task.scheduledAt, $1.task.id) }
    }

    public func nextDueTime(queue: String) async throws -> Date? {
        try await rows("""
            SELECT run_at FROM tasks WHERE queue = \(queue) AND state IN ('scheduled', 'retrying', 'running')
            ORDER BY run_at LIMIT 1
            """).first?["run_at"].decode(Date.self)
    }

    public func completeTask(_ task: ClaimedTask, now: Date,
                             then: @escaping @Sendable (any StoreTransaction) async throws -> Void) async throws -> Bool {
        try await transaction { tx in
            let done = try await tx.fenced("""
                UPDATE tasks SET state = 'succeeded', lease_owner = NULL, lease_token = NULL, updated_at = \(now), finished_at = \(now)
                WHERE \(fence: task) RETURNING id
                """)
            if done { try await then(tx) }
            return done
        }
    }

    public func failTask(_ task: ClaimedTask, error: String, retryAt: Date?, now: Date,
                         then: @escaping @Sendable (any StoreTransaction) async throws -> Void) async throws -> Bool {
        try await transaction { tx in
            let done: Bool
            if let retryAt {
                done = try await tx.fenced("""
                UPDATE tasks SET state = 'retrying', lease_owner = NULL, lease_token = NULL, run_at = \(retryAt),
                    scheduled_at = \(retryAt), last_error = \(error), updated_at = \(now)
                WHERE \(fence: task) RETURNING id
                """)
            } else {
                done = try await tx.fenced("""
                UPDATE tasks SET state = 'dead', lease_owner = NULL, lease_token = NULL, last_error = \(error),
                    updated_at = \(now), finished_at = \(now), run_at = \(now)
                WHERE \(fence: task) RETURNING id
                """)
            }
            if done { try await then(tx) }
            return done
        }
    }

    public func releaseTask(_ task: ClaimedTask, runAt: Date, note: String?, now: Date) async throws {
        let runAt = max(runAt, now)
        // A postponed task shows when it will run; one handed back at shutdown keeps its due time.
        let postponedTo: Date? = runAt > now ? runAt : nil
        _ = try await transaction { tx in
            try await tx.fenced("""
                UPDATE tasks SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'scheduled' END, attempts = attempts - 1,
                first_attempt_at = CASE WHEN attempts > 1 THEN first_attempt_at ELSE NULL END,
                last_error = COALESCE(\(note), last_error),
                lease_owner = NULL, lease_token = NULL, run_at = \(runAt),
                scheduled_at = COALESCE(\(postponedTo), scheduled_at), updated_at = \(now)
                WHERE \(fence: task) RETURNING id
                """)
        }
    }

    public func extendLease(_ task: ClaimedTask, until: Date) async throws -> Bool {
        try await transaction { tx in try await tx.fenced("UPDATE tasks SET run_at = \(until) WHERE \(fence: task) RETURNING id") }
    }

    public func cancelTask(id: Int64, now: Date) async throws -> Bool {
        try await !rows("""
            UPDATE tasks SET state = 'cancelled', lease_owner = NULL, lease_token = NULL, updated_at = \(now), finished_at = \(now)
            WHERE id = \(id) AND state IN ('scheduled', 'retrying', 'running') RETURNING id
            """).isEmpty
    }

    public func retryDeadTask(id: Int64, now: Date) async throws -> Bool {
        try await transaction { tx in
            let rows = try await tx.rows("""
                UPDATE tasks SET state = 'scheduled', attempts = 0, first_attempt_at = NULL, last_error = NULL,
                    run_at = \(now), scheduled_at = \(now), updated_at = \(now), finished_at = NULL
                WHERE id = \(id) AND state = 'dead' RETURNING queue
                """)
            for row in rows { try await tx.notify(queue: try row["queue"].decode(String.self)) }
            return !rows.isEmpty
        }
    }

    // MARK: Reads

    public func session(orderId: String) async throws -> SessionRecord? {
        try await rows("SELECT \(unescaped: PostgresSessionColumns.list) FROM sessions WHERE order_id = \(orderId)")
            .first.map(PostgresRows.session)
    }

    public func sessions(state: SessionState?, since: Date?, until: Date?, after cursor: SessionCursor?,
                         limit: Int) async throws -> [SessionRecord] {
        let (cursorAt, cursorId) = (cursor?.createdAt, cursor?.orderId)
        return try await rows("""
            SELECT \(unescaped: PostgresSessionColumns.list) FROM sessions
            WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
                AND (\(since)::timestamptz IS NULL OR created_at >= \(since))
                AND (\(until)::timestamptz IS NULL OR created_at < \(until))
                AND (\(cursorAt)::timestamptz IS NULL OR created_at < \(cursorAt)
                     OR (created_at = \(cursorAt) AND order_id < \(cursorId)))
            ORDER BY created_at DESC, order_id DESC LIMIT \(limit)
            """).map(PostgresRows.session)
    }

    public func tasks(orderId: String) async throws -> [TaskRecord] {
        try await rows("SELECT \(unescaped: PostgresTaskColumns.list()) FROM tasks WHERE order_id = \(orderId) ORDER BY id")
            .map(PostgresRows.task)
    }

    public func task(named name: String) async throws -> TaskRecord? {
        try await rows("SELECT \(unescaped: PostgresTaskColumns.list()) FROM tasks WHERE name = \(name)").first.map(PostgresRows.task)
    }

    public func task(id: Int64) async throws -> TaskRecord? {
        try await rows("SELECT \(unescaped: PostgresTaskColumns.list()) FROM tasks WHERE id = \(id)").first.map(PostgresRows.task)
    }

    public func tasks(queue: String?, state: TaskState?, limit: Int) async throws -> [TaskRecord] {
        try await rows("""
            SELECT \(unescaped: PostgresTaskColumns.list()) FROM tasks
            WHERE (\(queue)::text IS NULL OR queue = \(queue)) AND (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
            ORDER BY id LIMIT \(limit)
            """).map(PostgresRows.task)
    }

    public func events(orderId: String) async throws -> [EventRecord] {
        try await rows("SELECT id, order_id, type, at, data::text AS data FROM events WHERE order_id = \(orderId) ORDER BY id")
            .map(PostgresRows.event)
    }

    public func events(since: Date?, until: Date?, afterId: Int64, limit: Int) async throws -> [EventRecord] {
        try await rows("""
            SELECT id, order_id, type, at, data::text AS data FROM events
            WHERE (\(since)::timestamptz IS NULL OR at >= \(since)) AND (\(until)::timestamptz IS NULL OR at < \(until))
                AND id > \(afterId)
            ORDER BY id LIMIT \(limit)
            """).map(PostgresRows.event)
    }

    public func outbox(orderId: String) async throws -> [OutboxRecord] {
        try await rows("SELECT \(unescaped: PostgresOutboxColumns.list) FROM outbox WHERE order_id = \(orderId) ORDER BY id")
            .map(PostgresRows.outbox)
    }

    public func outbox(idempotencyKey: String) async throws -> OutboxRecord? {
        try await rows("SELECT \(unescaped: PostgresOutboxColumns.list) FROM outbox WHERE idempotency_key = \(idempotencyKey)")
            .first.map(PostgresRows.outbox)
    }

    public func reviews(limit: Int) async throws -> [ReviewRecord] {
        try await rows("""
            SELECT id, order_id, reason, event_id, created_at FROM reviews WHERE resolved_at IS NULL ORDER BY id LIMIT \(limit)
            """).map { row in
            ReviewRecord(id: try row["id"].decode(Int64.self), orderId: try row["order_id"].decode(String?.self),
                         reason: try row["reason"].decode(String.self), eventId: try row["event_id"].decode(String?.self),
                         createdAt: try row["created_at"].decode(Date.self))
        }
    }

    public func queueStats(queues: [String], now: Date) async throws -> [QueueStat] {
        var stats: [QueueStat] = []
        for queue in queues {
            let row = try await rows("""
                SELECT
                    (SELECT count(*) FROM tasks WHERE queue = \(queue) AND state IN ('scheduled', 'retrying', 'running') AND run_at <= \(now)) AS due,
                    (SELECT min(run_at) FROM tasks WHERE queue = \(queue) AND state IN ('scheduled', 'retrying', 'running') AND run_at <= \(now)) AS oldest,
                    (SELECT count(*) FROM tasks WHERE queue = \(queue) AND state = 'running' AND run_at > \(now)) AS running,
                    (SELECT count(*) FROM tasks WHERE queue = \(queue) AND state = 'dead') AS dead
                """).first
            stats.append(QueueStat(
                queue: queue, due: Int(try row?["due"].decode(Int64.self) ?? 0), oldestDue: try row?["oldest"].decode(Date?.self),
                running: Int(try row?["running"].decode(Int64.self) ?? 0), dead: Int(try row?["dead"].decode(Int64.self) ?? 0)))
        }
        return stats
    }

    public func claimIdempotencyKey(_ key: String, scope: String, actor: String, now: Date) async throws -> IdempotentRequest {
        let inserted = try await rows("""
            INSERT INTO admin_requests (idempotency_key, scope, actor, created_at) VALUES (\(key), \(scope), \(actor), \(now))
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key
            """)
        if !inserted.isEmpty { return .claimed }
        guard let row = try await rows("SELECT scope, status, body FROM admin_requests WHERE idempotency_key = \(key)").first else {
            return .inProgress
        }
        let stored = try row["scope"].decode(String.self)
        if stored != scope { return .mismatch(scope: stored) }
        guard let status = try row["status"].decode(Int?.self) else { return .inProgress }
        return .answered(status: status, body: try row["body"].decode(String?.self) ?? "")
    }

    public func answerIdempotencyKey(_ key: String, status: Int, body: String) async throws {
        _ = try await rows("UPDATE admin_requests SET status = \(status), body = \(body) WHERE idempotency_key = \(key)")
    }

    public func releaseIdempotencyKey(_ key: String) async throws {
        _ = try await rows("DELETE FROM admin_requests WHERE idempotency_key = \(key) AND status IS NULL")
    }

    public func audit(limit: Int) async throws -> [AuditRecord] {
        try await rows("""
            SELECT id, at, actor, action, target, outcome, ip, user_agent, request_id FROM audit_log ORDER BY id DESC LIMIT \(limit)
            """).map { row in
            AuditRecord(id: try row["id"].decode(Int64.self), at: try row["at"].decode(Date.self),
                        actor: try row["actor"].decode(String.self), action: try row["action"].decode(String.self),
                        target: try row["target"].decode(String?.self), outcome: try row["outcome"].decode(String.self),
                        ip: try row["ip"].decode(String?.self), userAgent: try row["user_agent"].decode(String?.self),
                        requestId: try row["request_id"].decode(String?.self))
        }
    }

    func rows(_ sql: PostgresSQL) async throws -> [PostgresResultRow] {
        let statements = statements
        return try await withConnection { try await statements.execute(sql, on: $0) }
    }
}

/// Set once a pooled connection has been leased; read by the lease deadline.
final class LeaseFlag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}

/// Runs `body`, failing with a timeout error if it takes longer than `seconds`.
func withDeadline<T: Sendable>(_ seconds: TimeInterval, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeLimit(seconds, orThrow: { StoreError("timed out after \(DurationText.format(seconds))") }, body)
}
