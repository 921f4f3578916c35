import Foundation
import NIOSSL
import PostgresNIO

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

