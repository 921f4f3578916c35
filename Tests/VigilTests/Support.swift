import Foundation
import Logging
import VigilCore
import VigilFlow
import VigilProviders
import VigilQueue
import VigilServer
import VigilPostgres
import VigilSQLite
import VigilStore

/// The two store backends; the queue and flow suites run against each.
enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }
}

/// A fresh, migrated store of the given backend, removed afterwards.
func withStore<T: Sendable>(_ backend: Backend, _ body: @Sendable (any Store) async throws -> T) async throws -> T {
    switch backend {
    case .sqlite: try await withSQLiteStore { try await body($0) }
    case .postgres: try await withPostgresStore { try await body($0) }
    }
}

/// A fresh SQLite database in its own temporary folder, removed afterwards.
func withSQLiteStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)")
    let store = try await SQLiteStore.open(path: dir.appendingPathComponent("vigil.sqlite").path)
    do {
        _ = try await store.migrate()
        let result = try await body(store)
        try await store.close()
        try? FileManager.default.removeItem(at: dir)
        return result
    } catch {
        try? await store.close()
        try? FileManager.default.removeItem(at: dir)
        throw error
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "vigil.test")
    logger.logLevel = .critical
    return logger
}()

/// The whole service wired on a real SQLite store with a manual clock: flow, sandbox providers,
/// workers (driven one queue pass at a time) and the HTTP router.
struct Harness {
    let store: any Store
    let clock: ManualClock
    let config: VigilConfig
    let flow: VerificationFlow
    let providers: Providers
    let scheduler = SchedulerStatus()
    let metrics = VigilMetrics()
    let workers: [QueueWorker<any StoreTransaction>]

    init(store: any Store, clock: ManualClock = ManualClock(), config: VigilConfig = VigilConfig(),
         providers: Providers? = nil, queues: [QueueConfig] = FlowQueues.defaults(), policy: AgePolicy? = nil,
         holdOrders: Bool = true) {
        self.store = store
        self.clock = clock
        self.config = config
        var settings = config.flowSettings
        settings.policy = policy ?? config.policy
        settings.holdOrders = holdOrders
        self.flow = VerificationFlow(store: store, clock: clock, settings: settings)
        let providers = providers ?? SandboxProviders().providers
        self.providers = providers
        let handler = FlowTaskHandler(store: store, providers: providers, clock: clock, settings: settings)
        let queueMetrics = metrics.queue
        workers = queues.map {
            QueueWorker<any StoreTransaction>(config: $0, store: store.taskStore, handler: handler, clock: clock,
                                              owner: "test", leaseDuration: 60, logger: quietLogger, metrics: queueMetrics)
        }
    }

    var services: AppServices {
        AppServices(config: config, store: store, flow: flow, providers: providers, scheduler: scheduler, clock: clock,
                    metrics: metrics)
    }

    /// Runs every task due now, across queues, until none is left (tasks may enqueue more).
    @discardableResult
    func drain() async throws -> Int {
        var total = 0
        while true {
            var ran = 0
            for worker in workers { ran += try await worker.runDueTasks() }
            total += ran
            if ran == 0 { return total }
        }
    }

    func advance(by seconds: TimeInterval) async throws {
        clock.advance(by: seconds)
        try await drain()
    }

    func order(_ id: String, total: Decimal = 50, paymentId: String? = "ch_1") -> OrderEvent {
        OrderEvent(event: "order.created", orderId: id, customerEmail: "\(id)@example.com", orderTotal: total,
                   currency: "USD", customerName: "Ada", paymentId: paymentId)
    }

    /// A decision for the order; an approval names an adult (born 1990-01-01) unless told otherwise.
    func decision(_ orderId: String, _ decision: VerificationDecision, id: String? = nil,
                  dateOfBirth: LocalDate? = LocalDate(year: 1990, month: 1, day: 1)) -> DecisionEvent {
        DecisionEvent(eventId: id ?? "evt_\(orderId)_\(decision.rawValue)", orderId: orderId, verificationId: nil,
                      decision: decision, dateOfBirth: decision == .approved ? dateOfBirth : nil, decidedAt: clock.now())
    }

    func outbox(_ orderId: String) async throws -> [OutboxRecord] { try await store.outbox(orderId: orderId) }

    func emails(_ orderId: String) async throws -> [String] {
        try await outbox(orderId).filter { $0.operation == .sendEmail }.map { entry in
            (try? JSONCoding.decode(EmailMessage.self, from: entry.request).kind.rawValue) ?? "?"
        }
    }
}
