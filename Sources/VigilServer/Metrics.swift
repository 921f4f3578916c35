import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Prometheus
import VigilCore
import VigilQueue
import VigilStore

/// The service's metrics: one Prometheus registry per service (so tests do not share one), fed
/// through swift-metrics, served at `GET /metrics`. Queue figures are read from the database at
/// scrape time, so every instance reports the shared queue the same way.
public struct VigilMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Webhook and admin latency lives between a millisecond and a few seconds.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    public var queue: QueueMetrics { QueueMetrics(factory: factory) }

    func request(method: HTTPRequest.Method, route: String, status: HTTPResponse.Status, duration: Duration) {
        Counter(label: "vigil_http_requests_total",
                dimensions: [("method", method.rawValue), ("route", route), ("status", "\(status.code)")], factory: factory)
            .increment()
        Timer(label: "vigil_http_request_duration_seconds", dimensions: [("method", method.rawValue), ("route", route)],
              factory: factory)
            .recordNanoseconds(Self.nanoseconds(duration))
    }

    /// `provider` is the label's name in the documented metric (README): the webhook's source.
    func webhook(source: WebhookSource, outcome: WebhookOutcome) {
        Counter(label: "vigil_webhooks_total", dimensions: [("provider", source.rawValue), ("outcome", outcome.rawValue)],
                factory: factory)
            .increment()
    }

    /// The Prometheus text exposition, after refreshing the gauges. It is served even while the
    /// datastore is down (the queue gauges then keep their last values and `vigil_datastore_up`
    /// says 0), so monitoring sees the outage instead of a failed scrape.
    func render(store: any Store, queues: [String], scheduler: SchedulerStatus, circuits: [Provider: Bool],
                version: String, now: Date) async -> String {
        Gauge(label: "vigil_build_info", dimensions: [("version", version)], factory: factory).record(1)
        for queue in queues {
            Gauge(label: "vigil_workers_running", dimensions: [("queue", queue)], factory: factory)
                .record(scheduler.isRunning ? 1 : 0)
        }
        for (provider, open) in circuits {
            Gauge(label: "vigil_provider_circuit_open", dimensions: [("provider", provider.rawValue)], factory: factory)
                .record(open ? 1 : 0)
        }
        do {
            for stat in try await store.queueStats(queues: queues, now: now) {
                let labels = [("queue", stat.queue)]
                Gauge(label: "vigil_queue_due_tasks", dimensions: labels, factory: factory).record(stat.due)
                Gauge(label: "vigil_queue_running_tasks", dimensions: labels, factory: factory).record(stat.running)
                Gauge(label: "vigil_queue_dead_tasks", dimensions: labels, factory: factory).record(stat.dead)
                Gauge(label: "vigil_queue_oldest_due_lag_seconds", dimensions: labels, factory: factory)
                    .record(stat.oldestDue.map { max(0, now.timeIntervalSince($0)) } ?? 0)
            }
            Gauge(label: "vigil_datastore_up", factory: factory).record(1)
        } catch {
            Gauge(label: "vigil_datastore_up", factory: factory).record(0)
        }
        if let use = store.connectionUse {
            Gauge(label: "vigil_db_connections_in_use", factory: factory).record(use.inUse)
            Gauge(label: "vigil_db_connections_waiting", factory: factory).record(use.waiting)
            Gauge(label: "vigil_db_connections_max", factory: factory).record(use.max)
        }
        return registry.emitToString()
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
}

/// What became of a webhook, as `vigil_webhooks_total` labels it.
enum WebhookOutcome: String, CaseIterable {
    case accepted, duplicate, ignored
    /// A decision for an order Vigil has no session for, kept for a person.
    case review
    /// A missing or wrong signature.
    case rejected
    /// Dated too long ago, or in the future: a replay.
    case stale
    /// A body that is not a valid event.
    case invalid
}

/// Counts and times every request by its route template (never the raw path, which would let
/// callers mint label values). Outermost, so it sees the status the client sees.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = VigilRequestContext
    let metrics: VigilMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let route = context.endpointPath ?? "unmatched"
        do {
            let response = try await next(request, context)
            metrics.request(method: request.method, route: route, status: response.status, duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            metrics.request(method: request.method, route: route, status: status, duration: ContinuousClock.now - started)
            throw error
        }
    }
}
