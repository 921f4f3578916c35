import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import Logging
import VigilCore
import VigilFlow
import VigilProviders
import VigilQueue
import VigilStore

/// Everything the HTTP layer needs, built once by `VigilRuntime` (or by a test).
public struct AppServices: Sendable {
    public let config: VigilConfig
    public let store: any Store
    public let flow: VerificationFlow
    public let providers: Providers
    public let scheduler: SchedulerStatus
    public let clock: any VigilClock
    public let version: String
    public let metrics: VigilMetrics
    /// The queue names `/metrics` reports on.
    public let queues: [String]
    /// Failed signature and token checks per source address.
    let authFailures: FailedAuthLimiter

    public init(config: VigilConfig, store: any Store, flow: VerificationFlow, providers: Providers,
                scheduler: SchedulerStatus, clock: any VigilClock, version: String = VigilVersion.current,
                metrics: VigilMetrics = VigilMetrics(), queues: [String] = FlowQueues.defaults().map(\.name)) {
        self.metrics = metrics
        self.queues = queues
        self.authFailures = FailedAuthLimiter(limit: config.authFailureLimit)
        self.config = config
        self.store = store
        self.flow = flow
        self.providers = providers
        self.scheduler = scheduler
        self.clock = clock
        self.version = version
    }
}

/// The router with every route and middleware; shared by `vigil serve` and the tests.
public func buildRouter(_ services: AppServices) -> Router<VigilRequestContext> {
    buildRoutes(services).router
}

/// The router, and every route it serves as `METHOD /path/{param}`.
public func buildRoutes(_ services: AppServices) -> (router: Router<VigilRequestContext>, served: [String]) {
    let router = Router(context: VigilRequestContext.self)
    // Outermost: a span per request, continuing the caller's trace when it sends `traceparent`
    // (with the OTLP exporter; otherwise spans go to whatever tracer is bootstrapped, by default
    // none). Query values that name a customer are not recorded.
    router.middlewares.add(TracingMiddleware(redactingQueryParameters: ["email", "customerId"]))
    router.middlewares.add(RequestMetricsMiddleware(metrics: services.metrics))
    router.middlewares.add(RequestIDMiddleware())
    router.middlewares.add(BodyLimitMiddleware())
    if !services.config.corsOrigins.isEmpty {
        router.middlewares.add(AllowedOriginsMiddleware(origins: Set(services.config.corsOrigins)))
    }
    let table = RouteTable(router: router)
    WebhookRoutes(services: services).register(on: table)
    HealthRoutes(services: services).register(on: table)
    table.timeout = RequestTimeout(seconds: services.config.adminTimeout, what: "admin request")
    let admin = AdminAccess(services: services)
    OrderRoutes(access: admin).register(on: table)
    OrderActionRoutes(access: admin).register(on: table)
    DataRoutes(access: admin).register(on: table)
    TaskRoutes(access: admin).register(on: table)
    LogRoutes(access: admin).register(on: table)
    CustomerRoutes(access: admin).register(on: table)
    table.timeout = nil
    // Pages for people, not the JSON API: registered outside the table the OpenAPI test reads.
    ConsoleRoutes(services: services).register(on: router)
    CustomerPageRoutes(services: services).register(on: router)
    table.get("/openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/yaml"],
                 body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }
    return (router, table.served)
}

/// The HTTP server `vigil serve` runs. `onServerRunning` is told the listening channel (tests read
/// the port of a server started on port 0 from it).
public func buildApplication(_ services: AppServices, logger: Logger,
                             onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
    let limits = services.config.http
    return Application(
        router: buildRouter(services),
        server: .http1(configuration: .init(
            additionalChannelHandlers: [ConnectionGuardHandler(limits: limits, logger: logger)],
            idleTimeout: .nanoseconds(Int64(limits.idleTimeout * 1_000_000_000)))),
        configuration: .init(
            address: .hostname(services.config.host, port: services.config.port), serverName: nil,
            availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: logger)),
        onServerRunning: onServerRunning,
        logger: logger)
}
