import Foundation
import VigilCore
import VigilFlow
import VigilProviders
import VigilQueue
import VigilStore

/// The subsystem matrix behind `/__selftest` and `vigil selftest`: dry-run checks only.
public struct SelfTestReport: Sendable {
    /// Subsystem → `ok`, `safe_mode` or `fail`.
    public var results: [String: String] = [:]
    public var details: [String: String] = [:]
    public var warnings: [String] = []
    public var safeMode = false

    /// A critical part failed: the service cannot do its job.
    public var criticalFailure: Bool { results.values.contains("fail") }

    var body: SelfTestBody {
        SelfTestBody(status: criticalFailure ? "fail" : "ok", safeMode: safeMode, veriff: results["veriff"] ?? "fail",
                     sendgrid: results["sendgrid"] ?? "fail", payments: results["payments"] ?? "fail",
                     lightspeed: results["lightspeed"] ?? "fail", datastore: results["datastore"] ?? "fail",
                     scheduler: results["scheduler"] ?? "fail", details: details, warnings: warnings)
    }
}

public enum SelfTest {
    /// - Parameter localScheduler: when given, the in-process workers must be running too.
    public static func run(config: VigilConfig, store: any Store, providers: Providers, clock: any VigilClock,
                           localScheduler: SchedulerStatus?) async -> SelfTestReport {
        var report = SelfTestReport()
        report.safeMode = config.providers == .sandbox

        do {
            let started = ContinuousClock.now
            try await store.ping()
            let status = try await store.migrationStatus()
            let ms = (ContinuousClock.now - started).milliseconds
            if status.pending.isEmpty {
                report.results["datastore"] = "ok"
                report.details["datastore"] = "schema version \(status.applied.max() ?? 0), round-trip \(ms) ms"
            } else {
                report.results["datastore"] = "fail"
                report.details["datastore"] = "\(status.pending.count) migration(s) pending; run vigil migrate"
            }
        } catch {
            report.results["datastore"] = "fail"
            report.details["datastore"] = "not reachable: \(error)"
        }

        // The scheduler is healthy when its loops run here (for the server) and no task is left
        // overdue, which would mean no worker anywhere is taking tasks.
        var scheduler = "ok"
        if let localScheduler, !localScheduler.isRunning {
            scheduler = "fail"
            report.details["scheduler"] = "task workers are not running"
        } else {
            do {
                let now = clock.now()
                let grace = config.taskLease + 60
                var overdue: [String] = []
                for queue in FlowQueues.defaults().map(\.name) {
                    if let due = try await store.nextDueTime(queue: queue), now.timeIntervalSince(due) > grace {
                        overdue.append("\(queue) (\(DurationText.format(now.timeIntervalSince(due).rounded())) late)")
                    }
                }
                if !overdue.isEmpty {
                    scheduler = "fail"
                    report.details["scheduler"] = "overdue tasks in: \(overdue.joined(separator: ", ")); is a vigil serve running?"
                } else {
                    report.details["scheduler"] = localScheduler == nil ? "no overdue tasks" : "running; no overdue tasks"
                }
            } catch {
                scheduler = "fail"
                report.details["scheduler"] = "cannot read the task queue"
            }
        }
        report.results["scheduler"] = scheduler

        // Read-only credential checks, side by side so a slow provider costs one timeout, not four.
        async let veriff = providers.identity.check()
        async let sendgrid = providers.email.check()
        async let payments = providers.payments.check()
        async let lightspeed = providers.shop.check()
        let checks: [(String, ProviderCheck)] = [
            ("veriff", await veriff), ("sendgrid", await sendgrid), ("payments", await payments), ("lightspeed", await lightspeed),
        ]
        for (name, check) in checks {
            report.results[name] = check.label
            if case .fail(let reason) = check { report.details[name] = reason }
        }

        if config.environment == .development {
            if config.lightspeedWebhookSecrets.isEmpty {
                report.warnings.append("VIGIL_LIGHTSPEED_WEBHOOK_SECRET is not set: unsigned order webhooks are accepted (development only)")
            }
            if config.veriffSharedSecrets.isEmpty {
                report.warnings.append("VIGIL_VERIFF_SHARED_SECRET is not set: unsigned decision webhooks are accepted (development only)")
            }
        }
        if config.adminTokens.isEmpty {
            report.warnings.append("VIGIL_ADMIN_TOKEN is not set: the admin API is disabled")
        }
        return report
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
