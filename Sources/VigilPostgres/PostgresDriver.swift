import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization
import VigilCore
import VigilQueue
import VigilStore

/// The production store: `SQLStore` over a PostgreSQL that many instances share.
public typealias PostgresStore = SQLStore<PostgresDriver>

extension SQLStore where Driver == PostgresDriver {
    public convenience init(settings: PostgresSettings, logger: Logger, cipher: FieldCipher = .development) {
        self.init(driver: PostgresDriver(settings: settings, logger: logger), cipher: cipher)
    }
}

/// A pooled connection inside a transaction; every statement a named prepared statement.
public final class PostgresTransactionConnection: SQLConnection {
    let connection: PostgresConnection
    let statements: PostgresStatements
    public var wakeQueues: Set<String> = []

    init(connection: PostgresConnection, statements: PostgresStatements) {
        self.connection = connection
        self.statements = statements
    }

    public func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await statements.execute(statement, on: connection)
    }

    /// The prepared-statement path gives rows but not the command tag that counts changes, so a
    /// data-changing statement reports its changes as rows: `RETURNING 1` is added to it.
    public func execute(_ statement: SQLStatement) async throws -> Int {
        let verb = statement.text.prefix { !$0.isWhitespace }.uppercased()
        guard ["INSERT", "UPDATE", "DELETE"].contains(verb), !statement.text.contains("RETURNING") else {
            return try await query(statement).count
        }
        var counted = statement
        counted.text += " RETURNING 1"
        return try await query(counted).count
    }
}

/// Many instances share one PostgreSQL. Claims use `FOR UPDATE SKIP LOCKED` so instances never
/// block on each other's tasks; a commit that creates work sends a NOTIFY that wakes every
/// instance's sleeping worker for that queue.
public final class PostgresDriver: SQLDriver {

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

    public func read(_ statement: SQLStatement) async throws -> [SQLRow] {
        let statements = statements
        return try await withConnection { try await statements.execute(statement, on: $0) }
    }

    public func autocommit(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await read(statement)
    }

    public func migrationTransaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresTransactionConnection) async throws -> T
    ) async throws -> T {
        // A migration may build indexes over large tables: allow it far longer than a query.
        let statements = statements.waiting(.hours(1))
        return try await withConnection { connection in
            try await statements.transaction(on: connection) {
                // Several instances may start at once: the first takes the lock and migrates, the
                // others wait here and then find nothing pending.
                try await statements.run("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", on: connection)
                return try await body(PostgresTransactionConnection(connection: connection, statements: statements))
            }
        }
    }

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

    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresTransactionConnection) async throws -> T
    ) async throws -> T {
        let statements = statements
        let (result, queues) = try await withConnection { connection in
            let tx = PostgresTransactionConnection(connection: connection, statements: statements)
            let result = try await statements.transaction(on: connection) { try await body(tx) }
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

    public func ping() async throws {
        _ = try await read("SELECT 1")
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
