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

    /// Each task makes at most one provider call, so by `kind` these are also the provider calls'
    /// outcomes and latency.
    func finished(queue: String, kind: String, outcome: TaskRunOutcome, after duration: Duration) {
        Counter(label: "vigil_tasks_total", dimensions: [("queue", queue), ("kind", kind), ("outcome", outcome.rawValue)],
                factory: factory)
            .increment()
        Timer(label: "vigil_task_duration_seconds", dimensions: [("queue", queue), ("kind", kind)], factory: factory)
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// How one run of a task ended, as `vigil_tasks_total` labels it.
public enum TaskRunOutcome: String, CaseIterable, Sendable {
    case succeeded, retrying, dead
    /// The provider is known to be down (its circuit is open): handed back, attempt not counted.
    case postponed
    /// Handed back at shutdown.
    case released
    /// The lease lapsed and another worker took the task; this run's result was discarded.
    case leaseLost = "lease_lost"
    /// The outcome could not be written (the datastore failed); the lease will lapse and the
    /// task run again.
    case unrecorded
}
