import Foundation

public enum TaskState: String, Sendable, Codable, CaseIterable {
    case scheduled, running, succeeded, retrying, dead, cancelled

    /// States in which the queue still owes the task a run.
    public var isActive: Bool { self == .scheduled || self == .running || self == .retrying }
}

/// A task to be created. `name` is unique across the queue's lifetime: enqueuing a name that
/// exists returns the existing task instead of creating a second one.
public struct NewTask: Sendable, Equatable {
    public var name: String
    public var queue: String
    public var kind: String
    public var orderId: String?
    public var payload: String
    public var runAt: Date
    /// The trace that caused the task (`TaskTracing`); nil takes it from the traced work
    /// creating the task, when there is any.
    public var traceContext: String?

    public init(name: String, queue: String, kind: String, orderId: String? = nil, payload: String = "{}", runAt: Date,
                traceContext: String? = nil) {
        self.name = name
        self.queue = queue
        self.kind = kind
        self.orderId = orderId
        self.payload = payload
        self.runAt = runAt
        self.traceContext = traceContext
    }
}

/// A task as stored.
public struct TaskRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var name: String
    public var queue: String
    public var kind: String
    public var orderId: String?
    public var payload: String
    public var state: TaskState
    public var attempts: Int
    /// When the task is (or was last) due to run.
    public var scheduledAt: Date
    public var firstAttemptAt: Date?
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// The propagation headers of the trace that caused the task, as JSON (`TaskTracing`).
    public var traceContext: String?

    public init(id: Int64, name: String, queue: String, kind: String, orderId: String?, payload: String,
                state: TaskState, attempts: Int, scheduledAt: Date, firstAttemptAt: Date?,
                lastError: String?, createdAt: Date, updatedAt: Date, traceContext: String? = nil) {
        self.id = id
        self.name = name
        self.queue = queue
        self.kind = kind
        self.orderId = orderId
        self.payload = payload
        self.state = state
        self.attempts = attempts
        self.scheduledAt = scheduledAt
        self.firstAttemptAt = firstAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.traceContext = traceContext
    }
}

/// A task claimed by one worker under a lease. `leaseToken` fences every later write: once the
/// lease is lost (expired and claimed elsewhere) this worker's completion is refused.
public struct ClaimedTask: Sendable, Equatable {
    public var task: TaskRecord
    public var leaseToken: String
    public var leaseExpiresAt: Date

    public init(task: TaskRecord, leaseToken: String, leaseExpiresAt: Date) {
        self.task = task
        self.leaseToken = leaseToken
        self.leaseExpiresAt = leaseExpiresAt
    }

    /// Stable key for outbound calls this task makes: identical on every attempt.
    public var idempotencyKey: String { VigilCoreKeys.forTask(named: task.name) }
}

/// What a task's run leaves to record, in the transaction that completes it.
public struct TaskOutcome<Transaction>: Sendable {
    /// Written whether or not this worker still holds the task's lease: the record of side effects
    /// that happened either way (a provider call made), so a later attempt can see them.
    public var record: (@Sendable (Transaction) async throws -> Void)?
    /// Written only while the lease is held: the task's consequences (state changes, new tasks).
    public var apply: @Sendable (Transaction) async throws -> Void

    public init(record: (@Sendable (Transaction) async throws -> Void)? = nil,
                apply: @escaping @Sendable (Transaction) async throws -> Void) {
        self.record = record
        self.apply = apply
    }

    /// Nothing to record.
    public static var nothing: TaskOutcome { TaskOutcome(apply: { _ in }) }
}
