import Foundation
import Logging
import Synchronization
import Tracing
import VigilCore

/// Runs the tasks of one queue: claims due tasks under a lease, performs them with bounded
/// concurrency, records the outcome, and sleeps until the next task is due or it is woken by an
/// earlier enqueue. Nothing per pending task is held in memory: the next due time is read from
/// the database each time the worker goes to sleep.
public struct QueueWorker<Transaction>: Sendable {
    public let config: QueueConfig
    let store: any TaskStore<Transaction>
    let handler: any TaskHandler<Transaction>
    let clock: any VigilClock
    let owner: String
    let leaseDuration: TimeInterval
    /// Upper bound on one sleep: a safety net only, not what drives latency.
    let maxIdle: TimeInterval
    let logger: Logger
    let metrics: QueueMetrics

    public init(config: QueueConfig, store: any TaskStore<Transaction>, handler: any TaskHandler<Transaction>,
                clock: any VigilClock, owner: String, leaseDuration: TimeInterval,
                maxIdle: TimeInterval = 300, logger: Logger, metrics: QueueMetrics = .disabled) {
        self.metrics = metrics
        self.config = config
        self.store = store
        self.handler = handler
        self.clock = clock
        self.owner = owner
        self.leaseDuration = leaseDuration
        self.maxIdle = maxIdle
        var logger = logger
        logger[metadataKey: "queue"] = .string(config.name)
        self.logger = logger
    }

    /// Claims and runs due tasks one at a time until none is due now. Returns how many ran.
    /// Deterministic: used by tests driving a `ManualClock`, and handy for draining a queue.
    @discardableResult
    public func runDueTasks(limit: Int = .max) async throws -> Int {
        var count = 0
        while count < limit {
            let claimed = try await store.claimTasks(
                queue: config.name, limit: 1, owner: owner, now: clock.now(), leaseDuration: leaseDuration)
            guard let task = claimed.first else { return count }
            await execute(task)
            count += 1
        }
        return count
    }

    /// The dispatch loop; returns once `stopping` reports true and running tasks have finished.
    /// Beside it, one lease keeper extends the leases of every task this worker runs, in one
    /// statement per round, so a slow provider call is not mistaken for a crash (a timer and a
    /// statement per task cost more than the tasks themselves when they are short).
    public func run(stopping: @escaping @Sendable () -> Bool, status: SchedulerStatus) async {
        let signal = store.wakeups.signal(for: config.name)
        let inFlight = InFlightCounter()
        await withTaskGroup(of: Void.self) { keeper in
            keeper.addTask { await keepLeases(inFlight) }
            await dispatch(stopping: stopping, status: status, signal: signal, inFlight: inFlight)
            keeper.cancelAll()
        }
        logger.debug("worker stopped", metadata: ["queue": "\(config.name)"])
    }

    private func dispatch(stopping: @escaping @Sendable () -> Bool, status: SchedulerStatus, signal: WakeSignal,
                          inFlight: InFlightCounter) async {
        var bucket = config.maxDispatchesPerSecond.map {
            QueueRateLimiter(rate: $0, burst: config.maxBurstSize, now: clock.now())
        }
        var failures = 0
        await withDiscardingTaskGroup { group in
            while !stopping() && !Task.isCancelled {
                status.beat(queue: config.name, at: clock.now())
                let now = clock.now()
                var free = config.maxConcurrent - inFlight.value
                var wakeAt = now.addingTimeInterval(maxIdle)
                if let tokens = bucket?.available(at: now), tokens < free {
                    free = tokens
                    if let refill = bucket?.nextTokenAt(now: now) { wakeAt = min(wakeAt, refill) }
                }
                var claimedAll = false
                if free > 0 {
                    do {
                        let claimed = try await store.claimTasks(
                            queue: config.name, limit: free, owner: owner, now: now, leaseDuration: leaseDuration)
                        failures = 0
                        bucket?.take(claimed.count, at: now)
                        for task in claimed {
                            inFlight.start(task)
                            group.addTask {
                                await execute(task)
                                inFlight.finish(task)
                                signal.signal()
                            }
                        }
                        claimedAll = claimed.count == free && !claimed.isEmpty
                        if !claimedAll, let next = try await store.nextDueTime(queue: config.name) {
                            // Due but not claimable (taken by a concurrent claim): look again shortly.
                            wakeAt = min(wakeAt, max(next, now.addingTimeInterval(claimed.isEmpty ? 0.05 : 0)))
                        }
                    } catch {
                        failures += 1
                        let delay = min(30, 0.5 * pow(2, Double(min(failures, 6))))
                        logger.warning("claiming tasks failed; retrying in \(DurationText.format(delay))",
                                       metadata: ["error": "\(error)"])
                        wakeAt = now.addingTimeInterval(delay)
                    }
                }
                if claimedAll { continue }
                await Self.wait(until: wakeAt, clock: clock, signal: signal)
            }
            logger.debug("worker stopped claiming", metadata: ["queue": "\(config.name)", "in_flight": "\(inFlight.value)"])
        }
    }

    static func wait(until date: Date, clock: any VigilClock, signal: WakeSignal) async {
        guard date > clock.now() else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: date) }
            group.addTask { await signal.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Performs one claimed task and records its outcome, in a span of its own: a new trace
    /// (the task may run days after what caused it) linked to the trace that caused the task.
    /// Tasks it creates inherit that cause (`TaskTracing`).
    func execute(_ claim: ClaimedTask) async {
        let task = claim.task
        await withSpan("task \(task.kind)", context: .topLevel, ofKind: .consumer) { span in
            span.updateAttributes { attributes in
                attributes["vigil.task.id"] = task.id
                attributes["vigil.task.kind"] = task.kind
                attributes["vigil.task.queue"] = config.name
                attributes["vigil.task.attempt"] = task.attempts
                attributes["vigil.order_id"] = task.orderId
            }
            if let cause = task.traceContext, let caused = TaskTracing.context(fromCarrier: cause) {
                span.addLink(SpanLink(context: caused, attributes: ["vigil.link": "caused_by"]))
            }
            var context = InstrumentationContext.current ?? span.context
            context.taskCause = task.traceContext ?? TaskTracing.carrier(of: span.context)
            let outcome = await InstrumentationContext.$current.withValue(context) { await run(claim) }
            span.attributes["vigil.task.outcome"] = outcome.rawValue
            if outcome == .dead || outcome == .retrying || outcome == .unrecorded {
                span.setStatus(SpanStatus(code: .error, message: "task \(outcome.rawValue)"))
            }
        }
    }

    private func run(_ claim: ClaimedTask) async -> TaskRunOutcome {
        var logger = self.logger
        logger[metadataKey: "task_id"] = .stringConvertible(claim.task.id)
        logger[metadataKey: "task"] = .string(claim.task.kind)
        if let orderId = claim.task.orderId { logger[metadataKey: "order_id"] = .string(orderId) }
        let started = ContinuousClock.now
        let queue = config.name
        let kind = claim.task.kind
        let report = { (outcome: TaskRunOutcome) -> TaskRunOutcome in
            metrics.finished(queue: queue, kind: kind, outcome: outcome, after: ContinuousClock.now - started)
            return outcome
        }

        // Attempts past the retry limits can only come from earlier attempts that ended without
        // an outcome: their worker died or lost the lease, possibly because this task crashes
        // it. Dead-letter it (visible, re-drivable) rather than crash-loop for ever.
        let attempt = claim.task.attempts
        if attempt > 1, config.nextAttempt(afterAttempts: attempt - 1, firstAttemptAt: claim.task.firstAttemptAt ?? clock.now(),
                                           now: clock.now(), random: 0) == nil {
            return report(await recordFailure(claim, error: PermanentTaskError(
                "attempt \(attempt) is past the queue's retry limits: earlier attempts ended without an outcome (their worker died or lost its lease)"),
                logger: logger))
        }

        let outcome = await Result(catching: { try await handler.perform(claim) })

        let now = clock.now()
        switch outcome {
        case .success(let result):
            do {
                if try await store.completeTask(claim, now: now, outcome: result) {
                    logger.debug("task succeeded", metadata: ["attempt": "\(claim.task.attempts)"])
                    return report(.succeeded)
                } else {
                    logger.warning("task finished after its lease was lost; its result was discarded")
                    return report(.leaseLost)
                }
            } catch {
                return report(await recordFailure(claim, error: error, logger: logger))
            }
        case .failure(let error) where error is CancellationError && Task.isCancelled:
            // Shutting down mid-task: hand it back so another run picks it up without losing an attempt.
            // The note also tells its next run that a call of this attempt may have gone out.
            try? await store.releaseTask(claim, runAt: now, note: "handed back at shutdown", now: now)
            return report(.released)
        case .failure(let error):
            return report(await recordFailure(claim, error: error, logger: logger))
        }
    }

    /// Records a failed attempt; returns the outcome for metrics.
    private func recordFailure(_ claim: ClaimedTask, error: any Error, logger: Logger) async -> TaskRunOutcome {
        let now = clock.now()
        let message = String(describing: error).prefix(1000)
        let timing = error as? any RetryTiming
        if let timing, !timing.countsAsAttempt {
            // The call never reached the provider (it is known to be down): postpone, keep the attempt.
            do {
                try await store.releaseTask(claim, runAt: timing.retryNotBefore, note: String(message), now: now)
                logger.notice("task postponed; provider unavailable", metadata: [
                    "retry_at": "\(timing.retryNotBefore)", "error": "\(message)"])
                return .postponed
            } catch {
                logger.error("postponing a task failed", metadata: ["error": "\(error)"])
                return .unrecorded
            }
        }
        var retryAt: Date? = error is PermanentTaskError ? nil : config.nextAttempt(
            afterAttempts: claim.task.attempts, firstAttemptAt: claim.task.firstAttemptAt ?? now, now: now)
        if let backoff = retryAt, let timing {
            // The provider said when to come back (Retry-After): not sooner than that.
            retryAt = max(backoff, timing.retryNotBefore)
        }
        let followUp = handler.failed(claim, error: String(message), dead: retryAt == nil) ?? { _ in }
        do {
            _ = try await store.failTask(claim, error: String(message), retryAt: retryAt, now: now, then: followUp)
            if let retryAt {
                logger.warning("task failed; will retry", metadata: [
                    "attempt": "\(claim.task.attempts)", "retry_at": "\(retryAt)", "error": "\(message)"])
            } else {
                logger.error("task failed and is dead-lettered", metadata: [
                    "attempt": "\(claim.task.attempts)", "error": "\(message)"])
            }
            return retryAt == nil ? .dead : .retrying
        } catch {
            // The lease will lapse and the task will run again; idempotency keys make that safe.
            logger.error("recording a task failure failed", metadata: ["error": "\(error)"])
            return .unrecorded
        }
    }

    /// Every third of a lease, extends the leases of the tasks running here, until cancelled.
    private func keepLeases(_ inFlight: InFlightCounter) async {
        let interval = max(leaseDuration / 3, 0.01)
        while !Task.isCancelled {
            do {
                try await clock.sleep(until: clock.now().addingTimeInterval(interval))
            } catch {
                return
            }
            let running = inFlight.tasks
            guard !running.isEmpty else { continue }
            do {
                let held = try await store.extendLeases(running, until: clock.now().addingTimeInterval(leaseDuration))
                for lost in running where !held.contains(lost.task.id) && inFlight.isRunning(lost) {
                    logger.warning("task lease lost while running", metadata: ["task_id": .stringConvertible(lost.task.id)])
                }
            } catch {
                logger.warning("extending task leases failed; retrying next round", metadata: ["error": "\(error)"])
            }
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Tasks of one queue running in this process.
final class InFlightCounter: Sendable {
    private let running = Mutex<[Int64: ClaimedTask]>([:])
    var value: Int { running.withLock { $0.count } }
    var tasks: [ClaimedTask] { running.withLock { Array($0.values) } }
    func start(_ task: ClaimedTask) { running.withLock { $0[task.task.id] = task } }
    func finish(_ task: ClaimedTask) { _ = running.withLock { $0.removeValue(forKey: task.task.id) } }
    func isRunning(_ task: ClaimedTask) -> Bool { running.withLock { $0[task.task.id]?.leaseToken == task.leaseToken } }
}

/// Token bucket for a queue's `maxDispatchesPerSecond` / `maxBurstSize`.
public struct QueueRateLimiter: Sendable {
    let rate: Double
    let burst: Int
    var tokens: Double
    var updated: Date

    public init(rate: Double, burst: Int, now: Date) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.tokens = Double(max(burst, 1))
        self.updated = now
    }

    public mutating func available(at now: Date) -> Int {
        refill(now)
        return Int(tokens.rounded(.down))
    }

    public mutating func take(_ count: Int, at now: Date) {
        refill(now)
        tokens -= Double(count)
    }

    public func nextTokenAt(now: Date) -> Date {
        let missing = max(1 - tokens, 0)
        return now.addingTimeInterval(rate > 0 ? missing / rate : 1)
    }

    private mutating func refill(_ now: Date) {
        let elapsed = max(now.timeIntervalSince(updated), 0)
        tokens = min(Double(burst), tokens + elapsed * rate)
        updated = now
    }
}
