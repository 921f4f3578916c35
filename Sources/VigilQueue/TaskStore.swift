import Foundation

/// What the queue needs from a database. `Transaction` is the backend's transaction handle,
/// passed to the handler's follow-up so a task's completion and its consequences (state
/// changes, new tasks, event-log rows) commit together.
public protocol TaskStore<Transaction>: Sendable {
    associatedtype Transaction

    /// Claims up to `limit` due tasks of `queue` (scheduled or retrying with `run_at <= now`, or
    /// running under an expired lease), marks them running and counts the attempt.
    func claimTasks(queue: String, limit: Int, owner: String, now: Date, leaseDuration: TimeInterval) async throws -> [ClaimedTask]

    /// The earliest time a task of `queue` becomes claimable, or nil when there is none.
    func nextDueTime(queue: String) async throws -> Date?

    /// Marks the task succeeded and writes its outcome in the same transaction. Returns false, and
    /// applies nothing but the outcome's `record`, when the lease was lost.
    func completeTask(_ task: ClaimedTask, now: Date, outcome: TaskOutcome<Transaction>) async throws -> Bool

    /// Records a failed attempt: `retryAt` schedules the next one, nil dead-letters the task.
    func failTask(_ task: ClaimedTask, error: String, retryAt: Date?, now: Date,
                  then: @escaping @Sendable (Transaction) async throws -> Void) async throws -> Bool

    /// Gives a claimed task back without counting the attempt, to run again at `runAt` (shutdown,
    /// cancellation, or a provider known to be down). `note`, when given, becomes its last error.
    func releaseTask(_ task: ClaimedTask, runAt: Date, note: String?, now: Date) async throws

    /// Extends the leases of running tasks in one statement; returns the ids of those still held
    /// (a lease that lapsed and was taken by another worker is not extended).
    func extendLeases(_ tasks: [ClaimedTask], until: Date) async throws -> Set<Int64>

    /// Fired after a commit that made a task of some queue due earlier than before.
    var wakeups: WakeupHub { get }
}

/// A handler runs a task's side effect and returns what to record when it succeeds.
public protocol TaskHandler<Transaction>: Sendable {
    associatedtype Transaction

    /// Performs the task. Side effects (provider calls) happen here, outside any transaction,
    /// with the task's idempotency key. The returned outcome is written in the completing
    /// transaction.
    func perform(_ task: ClaimedTask) async throws -> TaskOutcome<Transaction>

    /// Called in the transaction that records a failure; `dead` when no retry follows.
    func failed(_ task: ClaimedTask, error: String, dead: Bool) -> (@Sendable (Transaction) async throws -> Void)?
}

/// Thrown by a handler for a failure no retry can fix; the task is dead-lettered at once.
public struct PermanentTaskError: Error, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
