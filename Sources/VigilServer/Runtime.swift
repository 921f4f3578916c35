import AsyncHTTPClient
import Foundation
import Hummingbird
import Metrics
import Logging
import ServiceLifecycle
import VigilCore
import VigilFlow
import VigilProviders
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

/// Assembles Vigil from its configuration: the store, the flow, the task workers and the HTTP
/// server, run as one service group.
public enum VigilRuntime {
    /// Opens the configured datastore (without migrating).
    public static func openStore(_ config: VigilConfig, logger: Logger) async throws -> any Store {
        switch config.database {
        case .sqlite(let path):
            return try await SQLiteStore.open(path: path, logger: logger, cipher: config.fieldCipher)
        case .postgres(let pg):
            return PostgresStore(settings: PostgresSettings(
                host: pg.host, port: pg.port, user: pg.user, password: pg.password?.value, database: pg.database,
                tls: PostgresSettings.TLSMode(rawValue: pg.sslMode.rawValue) ?? .require,
                poolMax: config.poolMax, connectTimeout: config.connectTimeout,
                idleTimeout: config.idleTimeout, queryTimeout: config.queryTimeout,
                preparedStatements: config.preparedStatements), logger: logger, cipher: config.fieldCipher)
        }
    }

    /// Runs `body` with the store's background work (pool, LISTEN) running beside it, after
    /// checking the database can be reached; closes the store afterwards.
    public static func withRunningStore<T: Sendable>(
        _ config: VigilConfig, logger: Logger, _ body: @escaping @Sendable (any Store) async throws -> T
    ) async throws -> T {
        let store = try await openStore(config, logger: logger)
        let result = await Result(catching: {
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                defer { group.cancelAll() }
                try await store.waitUntilReachable(timeout: config.connectTimeout)
                return try await body(store)
            }
        })
        try? await store.close()
        return try result.get()
    }

    /// Runs `body` with the configured providers. Live providers share one HTTP client, shut down
    /// when `body` returns (after the service group has stopped, so no call is cut off).
    public static func withProviders<T: Sendable>(
        _ config: VigilConfig, store: any Store, clock: any VigilClock, logger: Logger,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        _ body: (Providers) async throws -> T
    ) async throws -> T {
        guard let live = config.live else {
            return try await body(SandboxProviders().providers)
        }
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(
            timeout: .init(connect: .seconds(Int64(min(config.providerHTTP.timeout, 30))))))
        let client = ProviderHTTPClient(http: http, settings: config.providerHTTP, clock: clock, logger: logger, metrics: metrics)
        let result = await Result(catching: { try await body(LiveProviders.make(live, http: client)) })
        try? await http.shutdown()
        return try result.get()
    }

    /// The per-queue workers for this process.
    public static func workers(_ config: VigilConfig, store: any Store, providers: Providers, clock: any VigilClock,
                               status: SchedulerStatus, metrics: QueueMetrics = .disabled,
                               logger: Logger) -> TaskWorkers<any StoreTransaction> {
        let owner = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        let handler = FlowTaskHandler(store: store, providers: providers, clock: clock, settings: config.flowSettings, owner: owner)
        let taskStore = store.taskStore
        let queues = FlowQueues.defaults(concurrency: config.workerConcurrency).map { queue -> QueueWorker<any StoreTransaction> in
            QueueWorker<any StoreTransaction>(
                config: queue, store: taskStore, handler: handler, clock: clock, owner: owner,
                leaseDuration: config.taskLease, logger: logger, metrics: metrics)
        }
        return TaskWorkers(workers: queues, status: status, logger: logger)
    }

    /// `vigil serve`: migrate, then run the HTTP server and the task workers until SIGTERM/SIGINT.
    public static func serve(_ config: VigilConfig, logger: Logger) async throws {
        // SQLite serves one process: the lock is taken before anything else and held to the end.
        let lock: SQLiteServeLock?
        if case .sqlite(let path) = config.database { lock = try SQLiteServeLock(databasePath: path) } else { lock = nil }
        try await withRunningStore(config, logger: logger) { store in
            try await serve(config, store: store, logger: logger)
        }
        withExtendedLifetime(lock) {}
    }

    static func serve(_ config: VigilConfig, store: any Store, logger: Logger) async throws {
        let clock = SystemClock()
        let applied = try await store.migrate()
        if !applied.isEmpty { logger.info("applied migrations", metadata: ["versions": "\(applied)"]) }
        do {
            try await store.checkEncryptionKeys()
        } catch let error as FieldCipherError {
            throw ConfigError("VIGIL_ENCRYPTION_KEY", "customers' data does not open under the configured keys: \(error)")
        }
        if let sqlite = store as? SQLiteStore {
            // This process owns the file (SQLiteServeLock): what is running was its predecessor's.
            let reclaimed = try await sqlite.reclaimRunningTasks(now: clock.now())
            if reclaimed > 0 { logger.notice("took back tasks left running by the previous process", metadata: ["tasks": "\(reclaimed)"]) }
        }

        try await DataRetention.schedule(store, now: clock.now())

        let metrics = VigilMetrics()
        try await withProviders(config, store: store, clock: clock, logger: logger, metrics: metrics.factory) { providers in
            try await serve(config, store: store, providers: providers, metrics: metrics, clock: clock, logger: logger)
        }
    }

    static func serve(_ config: VigilConfig, store: any Store, providers: Providers, metrics: VigilMetrics,
                      clock: SystemClock, logger: Logger) async throws {
        let flow = VerificationFlow(store: store, clock: clock, settings: config.flowSettings)
        let status = SchedulerStatus()
        let workers = workers(config, store: store, providers: providers, clock: clock, status: status,
                              metrics: metrics.queue, logger: logger)
        let services = AppServices(config: config, store: store, flow: flow, providers: providers,
                                   scheduler: status, clock: clock, metrics: metrics,
                                   queues: workers.workers.map(\.config.name))
        let app = buildApplication(services, logger: logger)

        for warning in startupWarnings(config) { logger.warning("\(warning)") }
        logger.info("vigil starting", metadata: [
            "version": .string(VigilVersion.current), "address": "\(config.host):\(config.port)",
            "environment": .string(config.environment.rawValue), "providers": .string(config.providers.rawValue),
            "database": .string(describe(config.database)),
            "policy": .string((config.policyFile.map { "\($0): " } ?? "") + PolicyFile.summary(config.policy)),
        ])
        // Services stop in reverse order: the HTTP server drains first, then the workers finish
        // or hand back their tasks, then the trace exporter sends what is left; the store closes
        // after the group returns.
        let exporter = try TracingExport.bootstrap(config, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: (exporter.map { [$0] } ?? []) + [workers, app],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.info("vigil stopped")
    }

    public static func startupWarnings(_ config: VigilConfig) -> [String] {
        var warnings: [String] = []
        if config.environment == .development {
            if config.lightspeedWebhookSecrets.isEmpty {
                warnings.append("VIGIL_LIGHTSPEED_WEBHOOK_SECRET is not set: unsigned order webhooks are accepted (development only)")
            }
            if config.veriffSharedSecrets.isEmpty {
                warnings.append("VIGIL_VERIFF_SHARED_SECRET is not set: unsigned decision webhooks are accepted (development only)")
            }
        }
        if config.providers == .sandbox {
            warnings.append("providers are in sandbox mode: calls are recorded in the outbox, nothing is sent")
        }
        if config.dataKey == nil {
            warnings.append("VIGIL_DATA_KEY is not set: customers' keyed hashes use a development key (production refuses to start without one)")
        }
        if config.live != nil, config.veriffCallbackURL == nil {
            warnings.append("VIGIL_VERIFF_CALLBACK_URL is not set: Veriff sends decisions to the integration's configured webhook URL")
        }
        return warnings
    }

    static func describe(_ database: DatabaseLocation) -> String {
        switch database {
        case .sqlite(let path): "sqlite://\(path)"
        case .postgres(let pg): "postgres://\(pg.host):\(pg.port)/\(pg.database)"
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
