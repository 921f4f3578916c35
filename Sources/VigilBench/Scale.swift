import ArgumentParser
import Foundation
import VigilCore
import VigilFlow
import VigilQueue
import VigilStore

/// Claim cost and ingest on a database as it is. `scripts/bench.sh` runs it on an empty queue,
/// then adds millions of future timers with one SQL statement and runs it again.
struct Scale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Claim cost and store ingest on the database as it is (run before and after adding pending timers).")

    @Option(help: "sqlite://PATH or postgres://... (migrated here if it is not yet).") var database: String
    @Option(help: "A name for this measurement, printed and used in the ids it creates.") var label = "run"
    @Option(help: "Orders committed in the ingest measurement.") var orders = 2_000
    @Option(help: "Committers running at once during ingest.") var concurrency = 1

    struct Figures {
        var claimMs: Double
        var ingestPerSecond: Double
    }

    func run() async throws {
        let store = try await BenchStore.open(database, poolMax: max(4, concurrency + 2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            try await store.waitUntilReachable(timeout: 10)
            _ = try await store.migrate()
            let figures = try await measure(store, round: label)
            // One line for people, one for scripts/bench.sh to compare runs.
            print(String(format: "%@: claim %.3f ms per claim of 10; ingest %.0f orders/s", label, figures.claimMs,
                         figures.ingestPerSecond))
            print(String(format: "scale-figures %.4f %.1f", figures.claimMs, figures.ingestPerSecond))
            group.cancelAll()
        }
        try await store.close()
    }

    /// Claim cost on the timers queue with 2,000 tasks due now among whatever is pending, then
    /// `orders` order transactions through the flow.
    func measure(_ store: any Store, round: String) async throws -> Figures {
        _ = try await store.write { tx in
            for n in 0..<2_000 {
                _ = try await tx.enqueue(NewTask(name: "due-\(round)-\(n)", queue: FlowQueues.timers, kind: "noop",
                                                 runAt: Date().addingTimeInterval(-1)), now: Date())
            }
        }
        let claimStarted = ContinuousClock.now
        var claims = 0
        while true {
            let claimed = try await store.taskStore.claimTasks(
                queue: FlowQueues.timers, limit: 10, owner: "scale", now: Date(), leaseDuration: 600)
            if claimed.isEmpty { break }
            claims += 1
        }
        let claimMs = seconds(since: claimStarted) * 1000 / Double(max(claims, 1))

        let flow = VerificationFlow(store: store, clock: SystemClock(), settings: FlowSettings(
            verificationDeadline: 72 * 3600, reminderAfter: 24 * 3600))
        let ingestStarted = ContinuousClock.now
        let orders = orders, concurrency = concurrency
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<concurrency {
                group.addTask {
                    var n = w
                    while n < orders {
                        _ = try await flow.receiveOrder(OrderEvent(
                            event: "order.created", orderId: "scale-\(round)-\(n)", customerEmail: "c\(n)@example.com",
                            orderTotal: 10, currency: "USD", paymentId: "pi_\(n)"), payload: "{}")
                        n += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        return Figures(claimMs: claimMs, ingestPerSecond: Double(orders) / seconds(since: ingestStarted))
    }

    func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
