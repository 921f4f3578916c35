import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PostgresNIO
@testable import VigilServer
import VigilPostgres
import VigilSQLite
import VigilStore

/// The private PostgreSQL cluster `scripts/test.sh` starts; each test gets a database of its own.
enum TestPostgres {
    static func location() throws -> PostgresLocation {
        guard let url = ProcessInfo.processInfo.environment["VIGIL_TEST_POSTGRES_URL"] else {
            throw TestFailure(description: "VIGIL_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts a private PostgreSQL")
        }
        guard case .postgres(let location) = try VigilConfig.parseDatabaseURL(url) else {
            throw TestFailure(description: "VIGIL_TEST_POSTGRES_URL is not a postgres:// URL")
        }
        return location
    }

    static func settings(database: String, poolMax: Int = 4) throws -> PostgresSettings {
        let l = try location()
        return PostgresSettings(host: l.host, port: l.port, user: l.user, password: l.password?.value,
                                database: database, tls: .disable, poolMax: poolMax, connectTimeout: 10)
    }

    /// Runs one statement on the cluster's maintenance database.
    static func admin(_ sql: String) async throws {
        let l = try location()
        let config = PostgresConnection.Configuration(
            host: l.host, port: l.port, username: l.user, password: l.password?.value, database: l.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: config, id: 1, logger: quietLogger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: quietLogger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Rows of one query on a test database, each as column name → text.
    static func query(_ database: String, _ sql: String) async throws -> [[String: String?]] {
        let l = try location()
        let config = PostgresConnection.Configuration(
            host: l.host, port: l.port, username: l.user, password: l.password?.value, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: config, id: 2, logger: quietLogger)
        do {
            var out: [[String: String?]] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: quietLogger) {
                var values: [String: String?] = [:]
                for cell in row { values[cell.columnName] = try cell.decode(String?.self) }
                out.append(values)
            }
            try await connection.close()
            return out
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func url(database: String) throws -> String {
        let l = try location()
        return "postgres://\(l.user)@\(l.host):\(l.port)/\(database)?sslmode=disable"
    }

    static func createDatabase() async throws -> String {
        let name = "vigil_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await admin("CREATE DATABASE \(name)")
        return String(name)
    }

    static func dropDatabase(_ name: String) async {
        try? await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// A fresh, migrated PostgreSQL database with its store running, dropped afterwards.
func withPostgresStore<T: Sendable>(poolMax: Int = 4, _ body: @Sendable (PostgresStore) async throws -> T) async throws -> T {
    let database = try await TestPostgres.createDatabase()
    let store = PostgresStore(settings: try TestPostgres.settings(database: database, poolMax: poolMax), logger: quietLogger)
    let outcome: Result<T, any Error>
    do {
        let value = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await store.run()
                return nil
            }
            defer { group.cancelAll() }
            try await store.waitUntilReachable(timeout: 10)
            _ = try await store.migrate()
            return try await body(store)
        }
        outcome = .success(value)
    } catch {
        outcome = .failure(error)
    }
    await TestPostgres.dropDatabase(database)
    return try outcome.get()
}

/// A fresh, empty PostgreSQL database (not migrated), dropped afterwards.
func withPostgresDatabase<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
    let database = try await TestPostgres.createDatabase()
    let outcome = await Result { try await body(database) }
    await TestPostgres.dropDatabase(database)
    return try outcome.get()
}

/// A store on `database` with its pool and LISTEN loop running for the duration of `body`.
func withRunningPostgresStore<T: Sendable>(database: String, poolMax: Int = 4,
                                           _ body: @Sendable (PostgresStore) async throws -> T) async throws -> T {
    let store = PostgresStore(settings: try TestPostgres.settings(database: database, poolMax: poolMax), logger: quietLogger)
    return try await withRunning(store) { try await body(store) }
}

/// Runs `store`'s pool and LISTEN loop for the duration of `body`.
func withRunning<T: Sendable>(_ store: PostgresStore, _ body: @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await store.run()
            return nil
        }
        defer { group.cancelAll() }
        try await store.waitUntilReachable(timeout: 10)
        return try await body()
    }
}

/// A PostgreSQL cluster of a test's own, for tests that stop and start the server.
final class PrivateCluster {
    let directory: URL
    let port: Int
    let bin: String

    /// `tlsOnly`: the server has a self-signed certificate and accepts only TLS connections.
    init(tlsOnly: Bool = false) throws {
        guard let bin = ProcessInfo.processInfo.environment["VIGIL_TEST_PG_BIN"] else {
            throw TestFailure(description: "VIGIL_TEST_PG_BIN is not set: run the tests with scripts/test.sh")
        }
        self.bin = bin
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("vigil-pgc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try freePort()
        if geteuid() == 0 { try Self.shell(["chown", "postgres", directory.path]) }
        try run("initdb", ["-D", "\(directory.path)/data", "-U", "vigil", "--auth=trust", "-E", "UTF8"])
        if tlsOnly {
            let data = "\(directory.path)/data"
            try run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=vigil-test",
                                "-keyout", "\(data)/server.key", "-out", "\(data)/server.crt"])
            try "hostssl all all 127.0.0.1/32 trust\n".write(toFile: "\(data)/pg_hba.conf", atomically: false, encoding: .utf8)
            let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(data)/postgresql.conf"))
            conf.seekToEndOfFile()
            conf.write(Data("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n".utf8))
            try conf.close()
        }
        try start()
    }

    var url: String { "postgres://vigil@127.0.0.1:\(port)/postgres?sslmode=disable" }

    func start() throws {
        try run("pg_ctl", ["-D", "\(directory.path)/data", "-l", "\(directory.path)/server.log", "-w", "start",
                           "-o", "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory.path)"])
    }

    func stop() throws {
        try run("pg_ctl", ["-D", "\(directory.path)/data", "-m", "fast", "-w", "stop"])
    }

    func destroy() {
        try? stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let command = [tool.contains("/") || tool == "openssl" ? tool : "\(bin)/\(tool)"] + arguments
        try Self.shell(geteuid() == 0 ? ["runuser", "-u", "postgres", "--"] + command : command)
    }

    /// Runs a command to completion with posix_spawn and waitpid. Foundation's `Process` is not used
    /// here: `pg_ctl start` leaves a daemon behind, and waiting on it through `Process` can hang.
    static func shell(_ command: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = (["/usr/bin/env"] + command).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestFailure(description: "cannot run \(command[0]): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        guard exited && (status >> 8) & 0xff == 0 else {
            throw TestFailure(description: "\(command.joined(separator: " ")) failed (wait status \(status))")
        }
    }
}
