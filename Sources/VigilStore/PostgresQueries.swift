import Logging
import NIOCore
import PostgresNIO

/// Every PostgreSQL statement goes through here. postgres-nio (1.33) can lease out a pooled
/// connection in the instant it is closing (the server went away), and a query written to it is
/// dropped without its result ever failing, so an unbounded `await` would hang for ever — and
/// with it the task, the request, and a graceful shutdown. A bounded wait turns that into an
/// error the caller already handles (503, or a task retry).
struct PostgresStatements: Sendable {
    let logger: Logger
    /// Longest wait for one statement's answer.
    let timeout: TimeAmount

    /// Runs `query` on `connection` and returns its rows.
    func rows(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [PostgresRow] {
        guard !connection.isClosed else {
            throw StoreError("the PostgreSQL connection closed; the database may be restarting")
        }
        let loop = connection.eventLoop
        let answer = loop.makePromise(of: [PostgresRow].self)
        let timeout = self.timeout
        let timer = loop.scheduleTask(in: timeout) {
            answer.fail(StoreError("PostgreSQL gave no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        connection.query(query, logger: logger).whenComplete { result in
            timer.cancel()
            answer.completeWith(result.map(\.rows))
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

    /// Runs `body` inside BEGIN … COMMIT on `connection`, rolling back when it throws.
    func transaction<T>(on connection: PostgresConnection, _ body: () async throws -> T) async throws -> T {
        try await run("BEGIN", on: connection)
        let result: T
        do {
            result = try await body()
        } catch {
            try? await run("ROLLBACK", on: connection)
            throw error
        }
        try await run("COMMIT", on: connection)
        return result
    }
}
