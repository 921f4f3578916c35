import Foundation
import Logging
import VigilCore
import VigilFlow
import VigilProviders

/// A configuration value that cannot be used; `description` is the one-line reason, naming the
/// variable. Never includes a secret's value.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let variable: String
    public let message: String
    public init(_ variable: String, _ message: String) {
        self.variable = variable
        self.message = message
    }
    public var description: String { "\(variable): \(message)" }
}

public enum DeploymentEnvironment: String, Sendable { case development, production }

/// The payment gateways Vigil refunds through.
public enum PaymentsGateway: String, Sendable, CaseIterable {
    /// Stripe, or an API compatible with its refunds.
    case stripe
    case authorizenet

    public var defaultBaseURL: String {
        switch self {
        case .stripe: "https://api.stripe.com"
        case .authorizenet: "https://api.authorize.net"
        }
    }
}
public enum LogFormat: String, Sendable { case text, json }

/// How traces travel to the OTLP receiver.
public enum OTLPProtocol: String, Sendable { case httpProtobuf = "http/protobuf", httpJSON = "http/json" }

public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)
}

public struct PostgresLocation: Sendable, Equatable {
    public enum SSLMode: String, Sendable { case disable, require, verifyFull = "verify-full" }
    public var host: String
    public var port: Int
    public var user: String
    public var password: Secret?
    public var database: String
    public var sslMode: SSLMode
}

/// Everything Vigil reads from its environment (see CONTRACT.md). Secrets may also be given as
/// `NAME_FILE`, a path to a file holding the value.
public struct VigilConfig: Sendable {
    public var environment: DeploymentEnvironment = .development
    public var host = "127.0.0.1"
    public var port = 8080
    /// Where `swift run vigil serve` keeps its data with nothing configured.
    public static let defaultSQLitePath = "vigil-data/vigil.sqlite"
    public var database: DatabaseLocation = .sqlite(path: defaultSQLitePath)
    public var poolMax = 20
    public var connectTimeout: TimeInterval = 10
    public var queryTimeout: TimeInterval = 30
    public var idleTimeout: TimeInterval = 60
    public var preparedStatements = true
    public var providers: ProviderMode = .sandbox
    public var verificationDeadline: TimeInterval = 72 * 3600
    public var reminderAfter: TimeInterval = 24 * 3600
    public var lightspeedWebhookSecrets: [Secret] = []
    public var veriffSharedSecrets: [Secret] = []
    public var veriffAPIKey: Secret?
    public var veriffBaseURL = "https://stationapi.veriff.com"
    public var sendgridAPIKey: Secret?
    public var sendgridBaseURL = "https://api.sendgrid.com"
    public var emailFrom: String?
    public var paymentsGateway = PaymentsGateway.stripe
    public var paymentsAPIKey: Secret?
    public var paymentsBaseURL: String?
    public var lightspeedAPIToken: Secret?
    public var lightspeedBaseURL: String?
    public var veriffCallbackURL: String?
    public var emailTemplates: [EmailKind: String] = [:]
    /// Authorize.Net's API login id (its transaction key is VIGIL_PAYMENTS_API_KEY).
    public var paymentsLoginId: Secret?
    /// The status that holds an order waiting for its check; `none` holds nothing.
    public var lightspeedHoldStatus = "on_hold"
    /// The status that lifts the hold of an approved order (Lightspeed's write-only `off_hold`).
    public var lightspeedReleaseStatus = "off_hold"
    /// The age policy, from `VIGIL_POLICY_FILE` or from `VIGIL_MINIMUM_AGE` and its siblings.
    public var policy = AgePolicy()
    /// Where the policy came from, for the logs and the console.
    public var policyFile: String?
    /// Keys customers' keyed hashes (returning customers, lookups by email).
    public var dataKey: Secret?
    /// Seals personal data at rest: `VIGIL_ENCRYPTION_KEY` (else a key derived from the data key),
    /// with `VIGIL_ENCRYPTION_KEY_PREVIOUS` and the derived key still opening older values.
    public var encryptionKey: FieldCipher.Key?
    public var previousEncryptionKeys: [FieldCipher.Key] = []
    public var providerHTTP = ProviderHTTPSettings()
    /// The live providers' settings, complete; nil in sandbox mode.
    public var live: LiveProviderSettings?
    public var adminTokens: [Secret] = []
    /// Browser origins allowed to call the API (CORS); none by default.
    public var corsOrigins: [String] = []
    public var logFormat: LogFormat = .text
    public var logLevel: Logger.Level = .info
    /// How long a claimed task is leased before another worker may take it over. Renewed every
    /// third of it while the task runs, so a task of a killed instance runs elsewhere within about
    /// this long (SQLite's single process takes its tasks back at start instead).
    public var taskLease: TimeInterval = 8
    /// Tasks of each queue run at once in this process.
    public var workerConcurrency = 4
    /// Longest a webhook or an admin request may take before it is answered 503.
    public var webhookTimeout: TimeInterval = 10
    public var adminTimeout: TimeInterval = 30
    /// Failed signature or token checks allowed per source address and minute before it gets 429.
    public var authFailureLimit = 20
    /// Connection timeouts and the connection cap of the HTTP server.
    public var http = HTTPLimits()
    /// Webhooks dated earlier than this are refused as replays.
    public var webhookMaxAge: TimeInterval = 7 * 86400
    /// Where customers and staff reach Vigil (`VIGIL_PUBLIC_URL`); emails link to its customer
    /// page. nil: this process's own address (development only).
    public var publicURL: String?
    /// How long a console sign-in lasts.
    public var consoleSessionTTL: TimeInterval = 12 * 3600
    /// Finished tasks and webhook payloads are kept this long.
    public var retention: TimeInterval = 30 * 86_400
    /// Personal data of decided orders is erased this long after the decision.
    public var personalDataRetention: TimeInterval = 90 * 86_400
    /// The OTLP/HTTP receiver traces go to (its base URL; `/v1/traces` is added); nil: no export.
    public var otlpEndpoint: String?
    public var otlpProtocol = OTLPProtocol.httpProtobuf
    /// The service name the exported traces carry.
    public var otlpServiceName = "vigil"

    public init() {}

    /// Reads and validates the configuration. `readFile` reads `*_FILE` secrets (injectable for tests).
    public static func load(
        environment env: [String: String],
        readFile: @escaping (String) throws -> String = { try String(contentsOfFile: $0, encoding: .utf8) }
    ) throws(ConfigError) -> VigilConfig {
        let reader = EnvReader(env: env, readFile: readFile)
        var config = VigilConfig()
        try config.readService(reader)
        try config.readDatabase(reader)
        try config.readProviderMode(reader)
        try config.readFlow(reader)
        try config.readAccess(reader)
        try config.readLogging(reader)
        try config.readLimits(reader)
        try config.readPolicy(reader)
        try config.readTracing(reader)
        try config.checkProduction()
        try readProviderSettings(reader, into: &config)
        return config
    }

    mutating func readService(_ reader: EnvReader) throws(ConfigError) {
        if let value = reader.string("VIGIL_ENV") {
            guard let parsed = DeploymentEnvironment(rawValue: value.lowercased()) else {
                throw ConfigError("VIGIL_ENV", "'\(value)' is not an environment; use development or production")
            }
            environment = parsed
        }
        if let value = reader.string("VIGIL_HOST") { host = value }
        if let value = reader.string("VIGIL_PORT") {
            guard let n = Int(value), (1...65535).contains(n) else {
                throw ConfigError("VIGIL_PORT", "'\(value)' is not a port number (1-65535)")
            }
            port = n
        }
        if let text = reader.string("VIGIL_PUBLIC_URL") {
            guard let url = URLComponents(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false,
                  url.query == nil, url.fragment == nil else {
                throw ConfigError("VIGIL_PUBLIC_URL", "'\(text.prefix(200))' is not an http(s) URL such as https://verify.example.com")
            }
            publicURL = text.hasSuffix("/") ? String(text.dropLast()) : text
        }
        if reader.string("VIGIL_CONSOLE_SESSION_TTL") != nil {
            let ttl = try reader.duration("VIGIL_CONSOLE_SESSION_TTL") ?? consoleSessionTTL
            guard (60...(30 * 86_400)).contains(ttl) else {
                throw ConfigError("VIGIL_CONSOLE_SESSION_TTL", "must be from 1m to 30d")
            }
            consoleSessionTTL = ttl
        }
        for (name, keyPath) in [("VIGIL_RETENTION", \VigilConfig.retention), ("VIGIL_PERSONAL_DATA_RETENTION", \VigilConfig.personalDataRetention)] {
            guard let value = try reader.duration(name) else { continue }
            guard value >= 86_400 else { throw ConfigError(name, "must be at least 1d") }
            self[keyPath: keyPath] = value
        }
    }

    mutating func readDatabase(_ reader: EnvReader) throws(ConfigError) {
        // The URL may hold the database password, so it is read like a secret (also from a file).
        if let url = try reader.secret("VIGIL_DATABASE_URL") {
            database = try Self.parseDatabaseURL(url.value)
        }
        if let pool = reader.string("VIGIL_DB_POOL_MAX") {
            // One pooled connection is held by LISTEN for wake-ups; the rest serve queries.
            guard let n = Int(pool), (2...1000).contains(n) else {
                throw ConfigError("VIGIL_DB_POOL_MAX", "'\(pool)' is not a pool size (2-1000; one connection listens for wake-ups)")
            }
            poolMax = n
        }
        if let d = try reader.positiveDuration("VIGIL_DB_CONNECT_TIMEOUT") { connectTimeout = d }
        if let d = try reader.positiveDuration("VIGIL_DB_QUERY_TIMEOUT") { queryTimeout = d }
        if let d = try reader.positiveDuration("VIGIL_DB_IDLE_TIMEOUT") { idleTimeout = d }
        if let on = try reader.boolean("VIGIL_DB_PREPARED_STATEMENTS") { preparedStatements = on }
    }

    mutating func readProviderMode(_ reader: EnvReader) throws(ConfigError) {
        let safeModeOn = try reader.boolean("SAFE_MODE") ?? false
        if let value = reader.string("VIGIL_PROVIDERS") {
            guard let mode = ProviderMode(rawValue: value.lowercased()) else {
                throw ConfigError("VIGIL_PROVIDERS", "'\(value)' is not a provider mode; use sandbox or live")
            }
            if mode == .live && safeModeOn {
                throw ConfigError("SAFE_MODE", "SAFE_MODE=true contradicts VIGIL_PROVIDERS=live; set one of them")
            }
            providers = mode
        } else if safeModeOn {
            providers = .sandbox
        } else if environment == .production {
            throw ConfigError("VIGIL_PROVIDERS", "production needs an explicit provider mode: set live, or sandbox to record calls without sending them")
        }
    }

    mutating func readFlow(_ reader: EnvReader) throws(ConfigError) {
        if let d = try reader.positiveDuration("VIGIL_VERIFICATION_DEADLINE") { verificationDeadline = d }
        if let d = try reader.duration("VIGIL_REMINDER_AFTER") { reminderAfter = d }
        if reminderAfter <= 0 || reminderAfter >= verificationDeadline {
            throw ConfigError("VIGIL_REMINDER_AFTER", "\(DurationText.format(reminderAfter)) must be above 0s and shorter than VIGIL_VERIFICATION_DEADLINE (\(DurationText.format(verificationDeadline)))")
        }
        lightspeedWebhookSecrets = try reader.secretList("VIGIL_LIGHTSPEED_WEBHOOK_SECRET")
        veriffSharedSecrets = try reader.secretList("VIGIL_VERIFF_SHARED_SECRET")
        if let d = try reader.positiveDuration("VIGIL_WEBHOOK_MAX_AGE") { webhookMaxAge = d }
    }

    mutating func readAccess(_ reader: EnvReader) throws(ConfigError) {
        adminTokens = try reader.secretList("VIGIL_ADMIN_TOKEN")
        if let origins = reader.string("VIGIL_CORS_ORIGINS") {
            corsOrigins = try origins.split(separator: ",").map { item throws(ConfigError) -> String in
                let origin = item.trimmingCharacters(in: .whitespaces)
                guard let url = URLComponents(string: origin), ["http", "https"].contains(url.scheme ?? ""), url.host != nil,
                      url.path.isEmpty, url.query == nil else {
                    throw ConfigError("VIGIL_CORS_ORIGINS", "'\(origin)' is not an origin like https://admin.example.com")
                }
                return origin
            }
        }
    }

    mutating func readLogging(_ reader: EnvReader) throws(ConfigError) {
        logFormat = environment == .production ? .json : .text
        if let format = reader.string("VIGIL_LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw ConfigError("VIGIL_LOG_FORMAT", "'\(format)' is not a log format; use text or json")
            }
            logFormat = parsed
        }
        if let level = reader.string("VIGIL_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigError("VIGIL_LOG_LEVEL", "'\(level)' is not a log level; use trace, debug, info, notice, warning, error or critical")
            }
            logLevel = parsed
        }
    }

    mutating func readTracing(_ reader: EnvReader) throws(ConfigError) {
        if let name = reader.string("VIGIL_OTLP_SERVICE_NAME") { otlpServiceName = name }
        if let value = reader.string("VIGIL_OTLP_PROTOCOL") {
            guard let parsed = OTLPProtocol(rawValue: value.lowercased()) else {
                throw ConfigError("VIGIL_OTLP_PROTOCOL", "'\(value)' is not an OTLP protocol; use http/protobuf or http/json")
            }
            otlpProtocol = parsed
        }
        guard let endpoint = try reader.url("VIGIL_OTLP_ENDPOINT") else { return }
        guard TracingExport.isBuilt else {
            throw ConfigError("VIGIL_OTLP_ENDPOINT", "this vigil was built without the OTLP exporter; build it with `swift build --traits OTLP`")
        }
        otlpEndpoint = endpoint
    }

    mutating func readLimits(_ reader: EnvReader) throws(ConfigError) {
        if let d = try reader.positiveDuration("VIGIL_WEBHOOK_TIMEOUT") { webhookTimeout = d }
        if let d = try reader.positiveDuration("VIGIL_ADMIN_TIMEOUT") { adminTimeout = d }
        if let d = try reader.positiveDuration("VIGIL_HTTP_IDLE_TIMEOUT") { http.idleTimeout = d }
        if let d = try reader.positiveDuration("VIGIL_HTTP_HEADER_TIMEOUT") { http.headerTimeout = d }
        if let d = try reader.positiveDuration("VIGIL_HTTP_BODY_TIMEOUT") { http.bodyTimeout = d }
        if let n = reader.string("VIGIL_AUTH_FAILURE_LIMIT") {
            guard let value = Int(n), (0...1_000_000).contains(value) else {
                throw ConfigError("VIGIL_AUTH_FAILURE_LIMIT", "'\(n)' is not a number of failures per minute (0 turns the limit off)")
            }
            authFailureLimit = value
        }
        if let n = reader.string("VIGIL_HTTP_MAX_CONNECTIONS") {
            guard let value = Int(n), (1...1_000_000).contains(value) else {
                throw ConfigError("VIGIL_HTTP_MAX_CONNECTIONS", "'\(n)' is not a number of connections (1-1000000)")
            }
            http.maxConnections = value
        }
        if let d = try reader.duration("VIGIL_TASK_LEASE") {
            guard d >= 1 else { throw ConfigError("VIGIL_TASK_LEASE", "must be at least 1s") }
            taskLease = d
        }
        if let n = reader.string("VIGIL_WORKER_CONCURRENCY") {
            guard let value = Int(n), (1...256).contains(value) else {
                throw ConfigError("VIGIL_WORKER_CONCURRENCY", "'\(n)' is not a concurrency (1-256)")
            }
            workerConcurrency = value
        }
    }

    mutating func readPolicy(_ reader: EnvReader) throws(ConfigError) {
        dataKey = try reader.secret("VIGIL_DATA_KEY")
        if let key = dataKey, key.value.utf8.count < 32 {
            throw ConfigError("VIGIL_DATA_KEY", "must be at least 32 characters of random text (e.g. openssl rand -hex 32)")
        }
        encryptionKey = try reader.secret("VIGIL_ENCRYPTION_KEY").map { secret throws(ConfigError) in
            try Self.encryptionKey(secret, setting: "VIGIL_ENCRYPTION_KEY")
        }
        previousEncryptionKeys = try reader.secretList("VIGIL_ENCRYPTION_KEY_PREVIOUS").map { secret throws(ConfigError) in
            try Self.encryptionKey(secret, setting: "VIGIL_ENCRYPTION_KEY_PREVIOUS")
        }
        let simple = ["VIGIL_MINIMUM_AGE", "VIGIL_TIME_ZONE", "VIGIL_REMEMBER_CUSTOMERS"].filter { reader.string($0) != nil }
        if let path = reader.string("VIGIL_POLICY_FILE") {
            if let both = simple.first {
                throw ConfigError(both, "VIGIL_POLICY_FILE is set too; put this setting in the policy file instead")
            }
            do {
                policy = try PolicyFile.load(path: path)
            } catch {
                throw ConfigError("VIGIL_POLICY_FILE", "\(path): \(error)")
            }
            policyFile = path
            return
        }
        if let text = reader.string("VIGIL_MINIMUM_AGE") {
            guard let n = Int(text), (0...125).contains(n) else {
                throw ConfigError("VIGIL_MINIMUM_AGE", "'\(text)' is not an age (0-125)")
            }
            policy.minimumAge = n
        }
        if let name = reader.string("VIGIL_TIME_ZONE") {
            guard let zone = TimeZone(identifier: name) else {
                throw ConfigError("VIGIL_TIME_ZONE", "'\(name)' is not a time zone; use an IANA name such as America/New_York")
            }
            policy.timeZone = zone
        }
        if let text = reader.string("VIGIL_REMEMBER_CUSTOMERS") {
            policy.rememberFor = text == "0" ? 0 : (try reader.duration("VIGIL_REMEMBER_CUSTOMERS") ?? policy.rememberFor)
        }
    }

    /// The keyed hashes' key: `VIGIL_DATA_KEY`, or in development a fixed one (and a warning).
    public var customerKeys: CustomerKeys {
        dataKey.map { CustomerKeys(secret: $0) } ?? .development
    }

    static func encryptionKey(_ secret: Secret, setting: String) throws(ConfigError) -> FieldCipher.Key {
        do {
            return try FieldCipher.Key(text: secret.value)
        } catch {
            throw ConfigError(setting, error.description)
        }
    }

    /// The cipher sealing personal data at rest. The key derived from the data key always opens
    /// (it is the default), so setting `VIGIL_ENCRYPTION_KEY` later needs no other change.
    public var fieldCipher: FieldCipher {
        let derived = dataKey.map { FieldCipher.Key.derived(from: $0) } ?? FieldCipher.development.current
        return FieldCipher(current: encryptionKey ?? derived, previous: previousEncryptionKeys + [derived])
    }

    /// The customer page's link signatures, keyed like `customerKeys`.
    public var customerLinks: CustomerLinks {
        dataKey.map { CustomerLinks(secret: $0) } ?? .development
    }

    /// Where emails' links point: `VIGIL_PUBLIC_URL`, or this process's own address.
    public var effectivePublicURL: String {
        publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Production refuses what would be unsafe there: the embedded database and unsigned webhooks.
    func checkProduction() throws(ConfigError) {
        guard environment == .production else { return }
        if case .sqlite = database {
            throw ConfigError("VIGIL_DATABASE_URL", "production runs on PostgreSQL; set postgres://USER:PASS@HOST:PORT/DB")
        }
        if lightspeedWebhookSecrets.isEmpty {
            throw ConfigError("VIGIL_LIGHTSPEED_WEBHOOK_SECRET", "production rejects unsigned order webhooks; set the secret (or VIGIL_LIGHTSPEED_WEBHOOK_SECRET_FILE)")
        }
        if veriffSharedSecrets.isEmpty {
            throw ConfigError("VIGIL_VERIFF_SHARED_SECRET", "production rejects unsigned decision webhooks; set the secret (or VIGIL_VERIFF_SHARED_SECRET_FILE)")
        }
        if dataKey == nil {
            throw ConfigError("VIGIL_DATA_KEY", "production needs a key for customers' keyed hashes; set 32+ random characters (or VIGIL_DATA_KEY_FILE)")
        }
        if publicURL == nil {
            throw ConfigError("VIGIL_PUBLIC_URL", "production emails customers a link to Vigil's page; set the https URL Vigil is reached at")
        }
    }

    /// The email kinds and the variables naming their SendGrid dynamic templates.
    public static let templateVariables: [(EmailKind, String)] = [
        (.verificationLink, "VIGIL_SENDGRID_TEMPLATE_VERIFICATION_LINK"), (.reminder, "VIGIL_SENDGRID_TEMPLATE_REMINDER"),
        (.resubmission, "VIGIL_SENDGRID_TEMPLATE_RESUBMISSION"), (.approved, "VIGIL_SENDGRID_TEMPLATE_APPROVED"),
        (.declined, "VIGIL_SENDGRID_TEMPLATE_DECLINED"), (.expired, "VIGIL_SENDGRID_TEMPLATE_EXPIRED"),
    ]

    /// Provider settings; in live mode every credential must be present, or the one-line error
    /// names the first missing variable.
    static func readProviderSettings(_ reader: EnvReader, into config: inout VigilConfig) throws(ConfigError) {
        config.veriffAPIKey = try reader.secret("VIGIL_VERIFF_API_KEY")
        if let url = try reader.url("VIGIL_VERIFF_BASE_URL") { config.veriffBaseURL = url }
        config.sendgridAPIKey = try reader.secret("VIGIL_SENDGRID_API_KEY")
        if let url = try reader.url("VIGIL_SENDGRID_BASE_URL") { config.sendgridBaseURL = url }
        config.emailFrom = reader.string("VIGIL_EMAIL_FROM")
        if let gateway = reader.string("VIGIL_PAYMENTS_GATEWAY") {
            guard let parsed = PaymentsGateway(rawValue: gateway.lowercased()) else {
                throw ConfigError("VIGIL_PAYMENTS_GATEWAY", "'\(gateway)' is not a supported gateway; use stripe or authorizenet")
            }
            config.paymentsGateway = parsed
        }
        config.paymentsAPIKey = try reader.secret("VIGIL_PAYMENTS_API_KEY")
        config.paymentsBaseURL = try reader.url("VIGIL_PAYMENTS_BASE_URL")
        config.lightspeedAPIToken = try reader.secret("VIGIL_LIGHTSPEED_API_TOKEN")
        config.lightspeedBaseURL = try reader.url("VIGIL_LIGHTSPEED_BASE_URL")
        config.veriffCallbackURL = try reader.url("VIGIL_VERIFF_CALLBACK_URL")
        config.paymentsLoginId = try reader.secret("VIGIL_PAYMENTS_LOGIN_ID")
        if let status = reader.string("VIGIL_LIGHTSPEED_RELEASE_STATUS") { config.lightspeedReleaseStatus = status }
        if let status = reader.string("VIGIL_LIGHTSPEED_HOLD_STATUS") { config.lightspeedHoldStatus = status }
        for (kind, variable) in templateVariables {
            if let id = reader.string(variable) { config.emailTemplates[kind] = id }
        }
        if let d = try reader.positiveDuration("VIGIL_PROVIDER_TIMEOUT") { config.providerHTTP.timeout = d }
        if let n = reader.string("VIGIL_PROVIDER_MAX_ATTEMPTS") {
            guard let value = Int(n), (1...10).contains(value) else {
                throw ConfigError("VIGIL_PROVIDER_MAX_ATTEMPTS", "'\(n)' is not a number of attempts (1-10)")
            }
            config.providerHTTP.retry.maxAttempts = value
        }
        if let n = reader.string("VIGIL_PROVIDER_BREAKER_THRESHOLD") {
            guard let value = Int(n), (1...1000).contains(value) else {
                throw ConfigError("VIGIL_PROVIDER_BREAKER_THRESHOLD", "'\(n)' is not a failure count (1-1000)")
            }
            config.providerHTTP.breakerThreshold = value
        }
        if let d = try reader.positiveDuration("VIGIL_PROVIDER_BREAKER_COOLDOWN") { config.providerHTTP.breakerCooldown = d }
        guard config.providers == .live else { return }

        func required<T>(_ value: T?, _ variable: String, _ what: String) throws(ConfigError) -> T {
            guard let value else { throw ConfigError(variable, "live providers need \(what); set \(variable)") }
            return value
        }
        let gateway: LiveProviderSettings.Gateway
        let paymentsBase: String
        switch config.paymentsGateway {
        case .authorizenet:
            gateway = .authorizeNet(
                loginId: try required(config.paymentsLoginId, "VIGIL_PAYMENTS_LOGIN_ID", "Authorize.Net's API login id"),
                transactionKey: try required(config.paymentsAPIKey, "VIGIL_PAYMENTS_API_KEY", "Authorize.Net's transaction key"))
        case .stripe:
            gateway = .stripe(apiKey: try required(config.paymentsAPIKey, "VIGIL_PAYMENTS_API_KEY", "the payment gateway's secret key"))
        }
        paymentsBase = config.paymentsBaseURL ?? config.paymentsGateway.defaultBaseURL
        var templates: [EmailKind: String] = [:]
        for (kind, variable) in templateVariables where kind != .resubmission {
            templates[kind] = try required(config.emailTemplates[kind], variable, "a SendGrid dynamic template id for \(kind.rawValue) emails")
        }
        templates[.resubmission] = config.emailTemplates[.resubmission]
        if let from = config.emailFrom, !from.contains("@") || from.contains(where: \.isWhitespace) {
            throw ConfigError("VIGIL_EMAIL_FROM", "'\(from)' is not an email address")
        }
        let lightspeedToken = try required(config.lightspeedAPIToken, "VIGIL_LIGHTSPEED_API_TOKEN", "the Lightspeed API key and secret as KEY:SECRET")
        guard lightspeedToken.value.contains(":") else {
            throw ConfigError("VIGIL_LIGHTSPEED_API_TOKEN", "must be the API key and secret as KEY:SECRET")
        }
        config.live = LiveProviderSettings(
            veriffBaseURL: config.veriffBaseURL,
            veriffAPIKey: try required(config.veriffAPIKey, "VIGIL_VERIFF_API_KEY", "Veriff's API key"),
            veriffSigningSecret: try required(config.veriffSharedSecrets.first, "VIGIL_VERIFF_SHARED_SECRET", "Veriff's shared secret key to sign requests"),
            veriffCallbackURL: config.veriffCallbackURL,
            sendgridBaseURL: config.sendgridBaseURL,
            sendgridAPIKey: try required(config.sendgridAPIKey, "VIGIL_SENDGRID_API_KEY", "a SendGrid API key"),
            emailFrom: try required(config.emailFrom, "VIGIL_EMAIL_FROM", "a sender address"),
            emailTemplates: templates, paymentsBaseURL: paymentsBase, gateway: gateway,
            lightspeedBaseURL: try required(config.lightspeedBaseURL, "VIGIL_LIGHTSPEED_BASE_URL", "the shop's API URL, e.g. https://api.webshopapp.com/en"),
            lightspeedCredentials: lightspeedToken, lightspeedHoldStatus: config.lightspeedHoldStatus,
            lightspeedReleaseStatus: config.lightspeedReleaseStatus)
    }

    /// Whether orders waiting for their check are held at the shop.
    public var holdsOrders: Bool { lightspeedHoldStatus.lowercased() != "none" }

    /// The flow's settings from this configuration.
    public var flowSettings: FlowSettings {
        FlowSettings(verificationDeadline: verificationDeadline, reminderAfter: reminderAfter, policy: policy,
                     holdOrders: holdsOrders, customerKeys: customerKeys, links: customerLinks,
                     publicURL: effectivePublicURL, retention: retention, personalDataRetention: personalDataRetention)
    }

    /// True when webhooks of this kind are accepted without a signature (development only).
    public var acceptsUnsignedWebhooks: Bool {
        environment == .development && (lightspeedWebhookSecrets.isEmpty || veriffSharedSecrets.isEmpty)
    }

    static func parseDatabaseURL(_ text: String) throws(ConfigError) -> DatabaseLocation {
        let name = "VIGIL_DATABASE_URL"
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw ConfigError(name, "sqlite:// needs a file path, e.g. sqlite://vigil-data/vigil.sqlite") }
            return .sqlite(path: path)
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
              let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            let scheme = text.split(separator: ":").first.map(String.init) ?? text
            if text.contains("://") {
                throw ConfigError(name, "unknown scheme '\(scheme)'; use sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB")
            }
            throw ConfigError(name, "not a database URL; use sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty else { throw ConfigError(name, "the PostgreSQL URL needs a database name after the host") }
        var ssl = PostgresLocation.SSLMode.require
        for item in url.queryItems ?? [] where item.name == "sslmode" {
            guard let mode = item.value.flatMap(PostgresLocation.SSLMode.init(rawValue:)) else {
                throw ConfigError(name, "sslmode must be disable, require or verify-full")
            }
            ssl = mode
        }
        return .postgres(PostgresLocation(
            host: host, port: url.port ?? 5432, user: url.user ?? "postgres",
            password: url.password.map { Secret($0.removingPercentEncoding ?? $0) }, database: database, sslMode: ssl))
    }
}

/// Reads variables, treating empty as unset, and `NAME_FILE` for secrets.
struct EnvReader {
    let env: [String: String]
    let readFile: (String) throws -> String

    func string(_ name: String) -> String? {
        guard let value = env[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    func duration(_ name: String) throws(ConfigError) -> TimeInterval? {
        guard let text = string(name) else { return nil }
        do {
            return try DurationText.parse(text)
        } catch {
            throw ConfigError(name, error.description)
        }
    }

    func boolean(_ name: String) throws(ConfigError) -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw ConfigError(name, "'\(text)' is not a boolean; use true or false")
        }
    }

    func positiveDuration(_ name: String) throws(ConfigError) -> TimeInterval? {
        guard let value = try duration(name) else { return nil }
        guard value > 0 else { throw ConfigError(name, "must be longer than zero") }
        return value
    }

    func url(_ name: String) throws(ConfigError) -> String? {
        guard let text = string(name) else { return nil }
        guard let url = URLComponents(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ConfigError(name, "'\(text)' is not an http(s) URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    func secret(_ name: String) throws(ConfigError) -> Secret? {
        let direct = string(name)
        let file = string("\(name)_FILE")
        if direct != nil && file != nil {
            throw ConfigError(name, "set either \(name) or \(name)_FILE, not both")
        }
        if let direct { return Secret(direct) }
        guard let file else { return nil }
        let contents: String
        do {
            contents = try readFile(file)
        } catch {
            throw ConfigError("\(name)_FILE", "cannot read \(file)")
        }
        let value = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw ConfigError("\(name)_FILE", "\(file) is empty") }
        return Secret(value)
    }

    /// A comma-separated list of secrets (rotation: any one verifies).
    func secretList(_ name: String) throws(ConfigError) -> [Secret] {
        guard let joined = try secret(name) else { return [] }
        return joined.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.map(Secret.init)
    }
}
