import Foundation
import Logging
import PostgresNIO
@testable import VigilServer
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
