import Foundation
import Logging
import VigilCore
import VigilQueue
import VigilStore

/// The embedded store: `SQLStore` over one SQLite file.
public typealias SQLiteStore = SQLStore<SQLiteDriver>

extension SQLStore where Driver == SQLiteDriver {
    /// Opens (creating if needed) the database at `path`. Does not migrate.
    public static func open(
        path: String, logger: Logger = Logger(label: "vigil.sqlite"), cipher: FieldCipher = .development
    ) async throws -> SQLiteStore {
        SQLiteStore(driver: try await SQLiteDriver.open(path: path, logger: logger), cipher: cipher)
    }

    /// Group-commit figures, for metrics and benchmarks.
    public var groupCommitStats: GroupCommitStats { driver.commits.stats }
    public var path: String { driver.path }
}

/// The writer connection inside a transaction. Statements run on the calling thread through
/// SQLite's C API: inside a transaction that holds the write lock they touch only SQLite's page
/// cache and take microseconds (see `SQLiteHandle`).
public final class SQLiteConnection: SQLConnection {
    let handle: SQLiteHandle
    public var wakeQueues: Set<String> = []

    init(handle: SQLiteHandle) {
        self.handle = handle
    }

    public func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try handle.run(statement.text, statement.binds)
    }

    public func execute(_ statement: SQLStatement) async throws -> Int {
        try handle.execute(statement.text, statement.binds).changes
    }
}

/// One SQLite file in WAL mode. One writer connection serialised by a lock (SQLite allows a
/// single writer; `BEGIN IMMEDIATE` takes the write lock up front so a transaction never fails
/// half-way on a lock upgrade), and one reader connection for the admin API, which WAL lets run
/// beside the writer.
///
/// Concurrent write transactions share one commit (a `Batcher`). Inside a batch the statements
/// run on the leader's thread; only BEGIN, COMMIT and reads go to a thread pool, because they
/// can wait on a lock, a disk or a long scan.
public final class SQLiteDriver: SQLDriver {
    let writer: SQLiteHandle
    let reader: SQLiteHandle
    let writeLock = AsyncLock()
    typealias Body = @Sendable (SQLiteConnection) async throws -> any Sendable
    /// Group commit: concurrent write transactions share one SQLite transaction and its commit.
    let commits = Batcher<Body>()
    public let wakeups = WakeupHub()
    public let path: String

    private init(path: String, writer: SQLiteHandle, reader: SQLiteHandle) {
        self.path = path
        self.writer = writer
        self.reader = reader
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteDriver {
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
        return SQLiteDriver(path: path, writer: writer, reader: reader)
    }

    /// Nothing runs in the background for SQLite; waits until cancelled.
    public func run() async throws {
        let (idle, continuation) = AsyncStream<Never>.makeStream()
        for await _ in idle {}  // ends when this task is cancelled
        continuation.finish()
    }

    public func waitUntilReachable(timeout: TimeInterval) async throws {
        _ = try await reader.query("SELECT 1")
    }

    public func close() async throws {
        try? await writeLock.withLock {
            await writer.close()
        }
        await reader.close()
    }

    public var connectionUse: ConnectionUse? { nil }

    public func read(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await reader.query(statement.text, statement.binds)
    }

    public func autocommit(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await transaction { connection in try await connection.query(statement) }
    }

    // MARK: Transactions

    /// A write transaction, group-committed with any that run at the same time; returns after
    /// the commit.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        let erased: Body = { try await body($0) }
        return try await commits.submit(erased) { bodies in await self.commit(bodies) }
    }

    /// Runs a batch of transactions as one SQLite transaction with one commit, and wakes the
    /// workers of queues that got work. A batch first runs straight through; if one of its
    /// transactions throws, it is rolled back and run again with a savepoint around each, so the
    /// failing one is undone alone. (Savepoints cost two statements a transaction, and failures
    /// are rare.)
    private func commit(_ bodies: [@Sendable (SQLiteConnection) async throws -> any Sendable]) async
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
    private func commitStraight(_ bodies: [@Sendable (SQLiteConnection) async throws -> any Sendable]) async
        -> (results: [Result<any Sendable, any Error>], queues: Set<String>)? {
        var values: [any Sendable] = []
        let connection = SQLiteConnection(handle: writer)
        do {
            _ = try await writer.query("BEGIN IMMEDIATE")
        } catch {
            return (bodies.map { _ in .failure(error) }, [])
        }
        for body in bodies {
            do {
                values.append(try await body(connection))
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
        return (values.map { .success($0) }, connection.wakeQueues)
    }

    /// The batch with each transaction in a savepoint of its own.
    private func commitInSavepoints(_ bodies: [@Sendable (SQLiteConnection) async throws -> any Sendable]) async
        -> (results: [Result<any Sendable, any Error>], queues: Set<String>) {
        var results: [Result<any Sendable, any Error>] = []
        var queues: Set<String> = []
        do {
            _ = try await writer.query("BEGIN IMMEDIATE")
            for body in bodies {
                let connection = SQLiteConnection(handle: writer)
                _ = try writer.run("SAVEPOINT vigil_tx")
                do {
                    let value = try await body(connection)
                    _ = try writer.run("RELEASE vigil_tx")
                    results.append(.success(value))
                    queues.formUnion(connection.wakeQueues)
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

    public func migrationTransaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            _ = try await writer.query("BEGIN IMMEDIATE")
            do {
                let result = try await body(SQLiteConnection(handle: writer))
                _ = try await writer.query("COMMIT")
                // Cached statements were prepared against the old schema.
                writer.clearStatementCache()
                reader.clearStatementCache()
                return result
            } catch {
                _ = try? await writer.query("ROLLBACK")
                throw error
            }
        }
    }
}
