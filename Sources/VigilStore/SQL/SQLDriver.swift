import Foundation
import VigilQueue

/// One connection inside a write transaction, as a driver offers it to the shared store.
public protocol SQLConnection: AnyObject {
    /// Runs a statement and returns its rows.
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
    /// Runs an INSERT, UPDATE or DELETE that returns no rows; returns how many rows it changed.
    func execute(_ statement: SQLStatement) async throws -> Int
    /// Queues that got work in this transaction; the driver wakes their workers once it commits.
    var wakeQueues: Set<String> { get set }
}

/// What a database backend supplies to `SQLStore`: transactions, reads, its life cycle, and its
/// dialect. Everything else — every statement that both backends accept, row decoding,
/// migrations, the queue's logic — is written once in `SQLStore`, the way Oban's SQLite engine
/// delegates all but what differs to the shared engine.
public protocol SQLDriver: Sendable {
    associatedtype Connection: SQLConnection

    /// The SQL that differs between backends.
    static var dialect: SQLDialect { get }

    /// Runs `body` in one write transaction and returns after it commits, then wakes the workers
    /// of the queues the connection's `wakeQueues` names. `body` may run more than once (a group
    /// commit retries a batch without the transaction that failed); only the last run counts.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Connection) async throws -> T) async throws -> T
    /// Runs `body` in one transaction that holds the schema lock, for migrations, with a patient
    /// bound on each statement.
    func migrationTransaction<T: Sendable>(_ body: @escaping @Sendable (Connection) async throws -> T) async throws -> T
    /// Runs one writing statement as a transaction of its own (on PostgreSQL without BEGIN and
    /// COMMIT: one round trip instead of three) and returns its rows; `RETURNING` tells what it
    /// changed.
    func autocommit(_ statement: SQLStatement) async throws -> [SQLRow]
    /// Runs a read-only statement outside any write transaction.
    func read(_ statement: SQLStatement) async throws -> [SQLRow]

    /// Wake-ups for the queue's sleeping workers.
    var wakeups: WakeupHub { get }
    /// The driver's background work (pool, LISTEN) until cancelled.
    func run() async throws
    func waitUntilReachable(timeout: TimeInterval) async throws
    func close() async throws
    var connectionUse: ConnectionUse? { get }
}

/// The SQL that differs between backends, in one value per backend. Statements use `?`
/// placeholders in the order their comments give.
public struct SQLDialect: Sendable {
    /// Column types for the neutral names migrations use: `{id}` (an auto-increment primary key),
    /// `{time}`, `{json}`, `{money}`, `{bigint}`, `{bool}`.
    public var columnTypes: [String: String]
    /// Appended to a SELECT in a write transaction that reads a row it may then update, so two
    /// instances cannot both act on it (`FOR UPDATE`; SQLite has one writer and needs nothing).
    public var lockForUpdate: String
    /// Claims due tasks and returns them with `SQLStore.taskColumns`. Binds: now, owner, lease
    /// token, lease expiry, queue, limit.
    public var claimTasks: String
    /// Whether `SELECT count(*) AS present ...` finds a table: binds its name.
    public var tableExists: String
    /// Whether several rows go in one INSERT (one round trip on PostgreSQL) or one statement each
    /// (SQLite, where single-row inserts are cheapest and cost no round trip).
    public var multiRowInsert: Bool
    /// The statements that close a transaction: the rows it deferred (`inserts`: event-log rows,
    /// outbox entries) and, where the database carries wake-ups between instances, the
    /// notifications for `queues`. PostgreSQL writes them all in one statement (one round trip);
    /// SQLite, where a statement costs no round trip, one statement per table.
    public var closingStatements: @Sendable (_ inserts: [DeferredInsert], _ queues: [String]) -> [SQLStatement]
    /// Completion batches written at once: one where one writer takes them in turn (SQLite),
    /// more where each goes on a connection of its own (PostgreSQL).
    public var completionLanes: Int
    /// The database's name in traces (OpenTelemetry's `db.system.name`).
    public var system: String

    public init(system: String, columnTypes: [String: String], lockForUpdate: String, claimTasks: String, tableExists: String,
                multiRowInsert: Bool, completionLanes: Int,
                closingStatements: @escaping @Sendable ([DeferredInsert], [String]) -> [SQLStatement]) {
        self.system = system
        self.columnTypes = columnTypes
        self.lockForUpdate = lockForUpdate
        self.claimTasks = claimTasks
        self.tableExists = tableExists
        self.multiRowInsert = multiRowInsert
        self.closingStatements = closingStatements
        self.completionLanes = completionLanes
    }

    /// A migration statement with its neutral column types replaced by this backend's.
    public func render(ddl: String) -> String {
        var text = ddl
        for (token, type) in columnTypes { text = text.replacingOccurrences(of: "{\(token)}", with: type) }
        return text
    }
}

/// Rows of one table that a transaction writes when it closes, as one multi-row INSERT.
public struct DeferredInsert: Sendable {
    /// `INSERT INTO table (columns)`.
    public var into: String
    /// What follows the VALUES rows (`ON CONFLICT ... DO NOTHING`), or nothing.
    public var conflict: String
    /// One `(?, ?, ...)` per row.
    public var rows: [String] = []
    public var binds: [SQLValue] = []

    public init(into: String, conflict: String = "") {
        self.into = into
        self.conflict = conflict
    }

    public var isEmpty: Bool { rows.isEmpty }

    /// The INSERT as a statement of its own.
    public var statement: SQLStatement {
        SQLStatement("\(into) VALUES \(rows.joined(separator: ", "))\(conflict)", binds)
    }
}
