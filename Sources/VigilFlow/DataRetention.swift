import Foundation
import VigilCore
import VigilQueue
import VigilStore

/// Retention, once an hour on one instance (an hourly task with a unique name, so instances
/// never run it twice): finished tasks and webhook payloads past `retention` go, and the personal
/// data of orders decided longer ago than `personalDataRetention` is erased. In batches, each its
/// own short transaction, so no lock is held for long; a run does at most `maxBatches` of each and
/// the next hour's run goes on.
public struct DataRetention: Sendable {
    let store: any Store
    let settings: FlowSettings
    static let batch = 500
    static let maxBatches = 40

    public init(store: any Store, settings: FlowSettings) {
        self.store = store
        self.settings = settings
    }

    public struct Report: Sendable, Equatable {
        public var tasksPruned = 0
        public var attemptsPruned = 0
        public var payloadsRedacted = 0
        public var eventsRedacted = 0
        public var adminAnswersPruned = 0
        public var ordersErased = 0
    }

    @discardableResult
    public func run(now: Date) async throws -> Report {
        var report = Report()
        let cutoff = now.addingTimeInterval(-settings.retention)
        report.tasksPruned = try await Self.inBatches { try await store.pruneFinishedTasks(before: cutoff, limit: $0) }
        report.attemptsPruned = try await Self.inBatches { try await store.pruneAttempts(before: cutoff, limit: $0) }
        report.adminAnswersPruned = try await Self.inBatches { try await store.pruneAdminAnswers(before: cutoff, limit: $0) }
        report.eventsRedacted = try await Self.inBatches { try await store.redactEventDetail(before: cutoff, limit: $0) }
        report.payloadsRedacted = try await Self.inBatches { try await store.redactWebhookPayloads(before: cutoff, limit: $0) }
        for _ in 0..<Self.maxBatches {
            let orders = try await store.ordersToErase(decidedBefore: now.addingTimeInterval(-settings.personalDataRetention), limit: Self.batch)
            for order in orders where try await store.eraseOrder(order, at: now) == .erased { report.ordersErased += 1 }
            if orders.count < Self.batch { break }
        }
        if report != Report() {
            let data = JSONCoding.object([
                "tasksPruned": report.tasksPruned, "attemptsPruned": report.attemptsPruned,
                "adminAnswersPruned": report.adminAnswersPruned, "eventsRedacted": report.eventsRedacted,
                "payloadsRedacted": report.payloadsRedacted, "ordersErased": report.ordersErased])
            try await store.write { tx in try await tx.log(orderId: nil, type: "maintenance.retention", at: now, data: data) }
        }
        return report
    }

    /// Runs one batched step until a batch comes back short (or `maxBatches`, so one pass stays
    /// bounded); how many rows it changed in all.
    static func inBatches(_ step: (Int) async throws -> Int) async throws -> Int {
        var total = 0
        for _ in 0..<maxBatches {
            let n = try await step(batch)
            total += n
            if n < batch { break }
        }
        return total
    }

    /// The start of the next hour.
    static func nextRun(after now: Date) -> Date {
        Date(timeIntervalSince1970: (floor(now.timeIntervalSince1970 / 3600) + 1) * 3600)
    }

    /// The hourly task due at `at`, named for its hour.
    public static func task(at: Date) -> NewTask {
        NewTask(name: "maintenance/\(Int64(at.timeIntervalSince1970 / 3600))", queue: FlowTask.maintenance.queue,
                kind: FlowTask.maintenance.rawValue, runAt: at)
    }

    /// Schedules the current hour's run unless it exists (each instance calls this at start).
    public static func schedule(_ store: any Store, now: Date) async throws {
        let at = Date(timeIntervalSince1970: floor(now.timeIntervalSince1970 / 3600) * 3600)
        try await store.write { tx in _ = try await tx.enqueue(Self.task(at: max(at, now)), now: now) }
    }
}
