import Logging
import NIOCore
import PostgresNIO
import Synchronization
import VigilStore

/// Every PostgreSQL statement goes through here. postgres-nio (1.33) can lease out a pooled
/// connection in the instant it is closing (the server went away), and a query written to it is
/// dropped without its result ever failing, so an unbounded `await` would hang for ever — and
/// with it the task, the request, and a graceful shutdown. A bounded wait turns that into an
/// error the caller already handles (503, or a task retry).
struct PostgresStatements: Sendable {
    let logger: Logger
    /// Longest wait for one statement's answer.
    let timeout: TimeAmount
    /// The named statements prepared on each pooled connection.
    let prepared: PostgresPreparedStatements

    /// The same statements (and prepared-statement cache) with another bound on the wait.
    func waiting(_ timeout: TimeAmount) -> PostgresStatements {
        PostgresStatements(logger: logger, timeout: timeout, prepared: prepared)
    }

    /// Runs `query` on `connection` as an unnamed statement and returns its rows.
    func rows(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [PostgresRow] {
        let logger = logger
        return try await bounded(on: connection) { connection.query(query, logger: logger).map(\.rows) }
    }

    /// Waits for `start`'s answer no longer than the timeout.
    private func bounded(on connection: PostgresConnection,
                         _ start: () -> EventLoopFuture<[PostgresRow]>) async throws -> [PostgresRow] {
        guard !connection.isClosed else {
            throw StoreError("the PostgreSQL connection closed; the database may be restarting")
        }
        let loop = connection.eventLoop
        let answer = loop.makePromise(of: [PostgresRow].self)
        let timeout = self.timeout
        let timer = loop.scheduleTask(in: timeout) {
            answer.fail(StoreError("PostgreSQL gave no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        start().whenComplete { result in
            timer.cancel()
            answer.completeWith(result)
        }
        do {
            return try await answer.futureResult.get()
        } catch let error as StoreError {
            // The connection is in an unknown state: close it so the pool never hands it out again.
            let _: EventLoopFuture<Void> = connection.close()
            throw error
        }
    }

    func run(_ query: PostgresQuery, on connection: PostgresConnection) async throws {
        _ = try await rows(query, on: connection)
    }

    /// Runs `sql` as a named prepared statement, preparing it on `connection` the first time, and
    /// returns its rows. PostgreSQL then neither parses nor (once it settles on a generic plan)
    /// plans the statement again, and the driver sends Bind and Execute without Parse and
    /// Describe. The prepared statement lives as long as the connection.
    ///
    /// This uses postgres-nio's future-based `PreparedQuery`, because the wait must be bounded
    /// as above, which its async `execute` cannot be.
    func execute(_ sql: PostgresStatement, on connection: PostgresConnection) async throws -> [SQLRow] {
        try PostgresRows.convert(try await bounded(on: connection) {
            let binds = sql.binds
            if let statement = prepared.statement(sql.text, on: connection) {
                return statement.execute(binds)
            }
            guard prepared.hasRoom(for: sql, on: connection) else {
                // Preparing is off, or a rare shape (a long multi-row INSERT): an unnamed statement.
                var bindings = PostgresBindings(capacity: binds.count)
                for bind in binds { bindings.append(bind) }
                return connection.query(PostgresQuery(unsafeSQL: sql.text, binds: bindings), logger: logger).map(\.rows)
            }
            let cache = prepared
            return connection.prepare(query: sql.text).flatMap { statement in
                cache.remember(statement, for: sql.text, on: connection)
                return statement.execute(binds)
            }
        })
    }

    /// Runs a neutral statement (see `PostgresStatement`) as a prepared one.
    func execute(_ statement: SQLStatement, on connection: PostgresConnection) async throws -> [SQLRow] {
        try await execute(try PostgresStatement(statement), on: connection)
    }

    /// Runs `body` inside BEGIN … COMMIT on `connection`, rolling back when it throws.
    func transaction<T>(on connection: PostgresConnection, _ body: () async throws -> T) async throws -> T {
        // BEGIN and COMMIT are two of every transaction's round trips: prepared like the rest.
        _ = try await execute(PostgresStatement(text: "BEGIN", binds: []), on: connection)
        let result: T
        do {
            result = try await body()
        } catch {
            try? await run("ROLLBACK", on: connection)
            throw error
        }
        _ = try await execute(PostgresStatement(text: "COMMIT", binds: []), on: connection)
        return result
    }
}

/// Which statements are prepared on which pooled connection, by SQL text. A connection's entries
/// go when it closes. Each connection holds at most `limit` statements; a statement with more
/// than `maxBinds` values (a long multi-row INSERT, whose text varies with its length) is not
/// prepared, so the set stays small: Vigil's statements come in a few dozen shapes. Disabled,
/// every statement runs unnamed (for a pooler that moves transactions between server sessions).
final class PostgresPreparedStatements: Sendable {
    static let limit = 128
    static let maxBinds = 520
    let enabled: Bool
    private let byConnection = Mutex<[Int: [String: PreparedQuery]]>([:])

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func statement(_ text: String, on connection: PostgresConnection) -> PreparedQuery? {
        byConnection.withLock { $0[connection.id]?[text] }
    }

    /// Whether `sql` should be prepared on `connection`.
    func hasRoom(for sql: PostgresStatement, on connection: PostgresConnection) -> Bool {
        enabled && sql.binds.count <= Self.maxBinds && byConnection.withLock { ($0[connection.id]?.count ?? 0) < Self.limit }
    }

    func remember(_ statement: PreparedQuery, for text: String, on connection: PostgresConnection) {
        let id = connection.id
        let first = byConnection.withLock { all in
            let first = all[id] == nil
            all[id, default: [:]][text] = statement
            return first
        }
        // A connection that closed meanwhile has a completed future, which runs the callback at once.
        if first {
            connection.closeFuture.whenComplete { _ in self.forget(connection: id) }
        }
    }

    private func forget(connection id: Int) {
        _ = byConnection.withLock { $0.removeValue(forKey: id) }
    }

    /// How many statements are prepared, over all connections (for tests).
    var count: Int {
        byConnection.withLock { $0.values.reduce(0) { $0 + $1.count } }
    }
}
