import Metrics
import Foundation

/// What the workers report: tasks finished by queue and outcome, and how long they ran. Uses
/// swift-metrics with an explicit factory so each service (and each test) has its own registry.
public struct QueueMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Records nothing.
    public static var disabled: QueueMetrics { QueueMetrics(factory: NOOPMetricsHandler.instance) }

    /// `outcome`: succeeded, retrying, dead, postponed (provider down; attempt not counted),
    /// released (handed back at shutdown), lease_lost.
    /// Each task makes at most one provider call, so by `kind` these are also the provider calls'
    /// outcomes and latency.
    func finished(queue: String, kind: String, outcome: String, after duration: Duration) {
        Counter(label: "vigil_tasks_total", dimensions: [("queue", queue), ("kind", kind), ("outcome", outcome)], factory: factory)
            .increment()
        Timer(label: "vigil_task_duration_seconds", dimensions: [("queue", queue), ("kind", kind)], factory: factory)
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
