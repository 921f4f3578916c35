import Foundation
import VigilCore
import VigilQueue

/// Operations inside one database transaction. Everything the flow writes for one event goes
/// through one of these, so the state change, the idempotency record, the tasks and the
/// event-log rows commit together or not at all.
public protocol StoreTransaction: AnyObject {
    /// Records a webhook delivery; false when `(source, eventId)` was seen before.
    func recordWebhook(_ webhook: StoredWebhook) async throws -> Bool

    /// The order's session, locked for this transaction where the database has row locks.
    func session(orderId: String) async throws -> SessionRecord?
    func session(verificationId: String) async throws -> SessionRecord?
    /// Creates the session; false, writing nothing, when the order already has one.
    func insertSession(_ session: SessionRecord) async throws -> Bool
    func updateSession(_ session: SessionRecord) async throws

    /// Creates each task unless one with its name exists; true, in order, for those created.
    func enqueue(_ tasks: [NewTask], now: Date) async throws -> [Bool]
    /// Cancels the order's unfinished tasks of the given kinds; returns how many were cancelled.
    @discardableResult func cancelTasks(orderId: String, kinds: [String], now: Date) async throws -> Int

    /// Appends a row to the event log (written when the transaction closes, in one statement).
    func log(orderId: String?, type: String, at: Date, data: String) async throws
    func addReview(orderId: String?, reason: String, eventId: String?, at: Date) async throws
    func appendAudit(_ entry: AuditRecord) async throws
    /// Remembers a customer as verified of age, under each of their keys.
    func rememberCustomer(keys: [String], minimumAge: Int, verifiedAt: Date, orderId: String) async throws
    /// The customer verified of age since `since` under any of `keys`, not revoked.
    func verifiedCustomer(keys: [String], since: Date) async throws -> VerifiedCustomer?
    /// Keeps a decision that arrived before its order.
    func parkDecision(orderId: String, decision: String, at: Date) async throws
    /// The decisions kept for an order, marked applied.
    func takeParkedDecisions(orderId: String, at: Date) async throws -> [ParkedDecision]
    /// How many of the order's tasks of these kinds are still to run.
    func countActiveTasks(orderId: String, kinds: [String]) async throws -> Int

    /// Records a provider call under its idempotency key (written when the transaction closes);
    /// a second record with the same key writes nothing: the first stands.
    func recordOutbox(_ entry: OutboxRecord) async throws
    /// Records that a task's provider call is about to be made (with events that must commit
    /// with it); the attempt's id.
    func startAttempt(_ attempt: ProviderAttempt) async throws -> Int64
    /// Ends a call attempt with its outcome (an attempt already ended is left as it is).
    func endAttempt(id: Int64, outcome: ProviderAttempt.Outcome, error: String?, at: Date) async throws
}

extension StoreTransaction {
    /// Creates the task unless one with its name exists; true when it was created.
    @discardableResult
    public func enqueue(_ task: NewTask, now: Date) async throws -> Bool {
        try await enqueue([task], now: now).first ?? false
    }
}

/// The database behind Vigil: transactions for the flow, the task queue, and the read side
/// for the admin API and export.
public protocol Store: TaskStore, AccountStore where Transaction == any StoreTransaction {
    /// Runs `body` in one transaction and returns after it commits. `body` must act only
    /// through its transaction: it may run more than once (a group commit runs a batch again
    /// when one of its transactions throws), and only the last run counts.
    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) async throws -> T) async throws -> T

    func migrationStatus() async throws -> MigrationStatus
    /// Applies pending migrations in one transaction; returns the versions applied.
    func migrate() async throws -> [Int]
    /// A trivial round-trip, for health checks.
    func ping() async throws

    func session(orderId: String) async throws -> SessionRecord?
    /// Sessions newest first, optionally in one state and created in `since ..< until`,
    /// continuing after `cursor`.
    func sessions(state: SessionState?, since: Date?, until: Date?, after cursor: SessionCursor?,
                  limit: Int) async throws -> [SessionRecord]
    func tasks(orderId: String) async throws -> [TaskRecord]
    func task(named name: String) async throws -> TaskRecord?
    func task(id: Int64) async throws -> TaskRecord?
    func tasks(queue: String?, state: TaskState?, limit: Int) async throws -> [TaskRecord]
    func eventLog(orderId: String) async throws -> [EventLogEntry]
    /// Event-log rows with `since <= at < until`, in id order, after the row id `afterId`.
    func eventLog(since: Date?, until: Date?, afterId: Int64, limit: Int) async throws -> [EventLogEntry]
    func outbox(orderId: String) async throws -> [OutboxRecord]
    /// Records that a task's provider call is about to be made, in a transaction of its own,
    /// committed before the call (`SQLStore+Attempts.swift`); the attempt's id.
    func startAttempt(_ attempt: ProviderAttempt) async throws -> Int64
    /// Ends a call attempt at once, outside the task's completion: a call that failed, or was
    /// not made.
    func endAttempt(id: Int64, outcome: ProviderAttempt.Outcome, error: String?, at: Date) async throws
    /// An order's provider call attempts, oldest first.
    func attempts(orderId: String) async throws -> [ProviderAttempt]
    /// Earlier attempts of one task, oldest first.
    func attempts(taskId: Int64) async throws -> [ProviderAttempt]
    func outbox(idempotencyKey: String) async throws -> OutboxRecord?
    func reviews(limit: Int) async throws -> [ReviewRecord]
    /// Per-queue figures for metrics. Each figure is an index range scan, so a scrape stays cheap
    /// however many future timers are pending.
    func queueStats(queues: [String], now: Date) async throws -> [QueueStat]
    /// Claims `key` for one admin request (`scope` is its method and path), or reports what
    /// the key already holds. The first claim wins even under concurrency (a unique key).
    func claimIdempotencyKey(_ key: String, scope: String, actor: String, now: Date) async throws -> IdempotentRequest
    /// Records the answer of a claimed request, for replay.
    func answerIdempotencyKey(_ key: String, status: Int, body: String) async throws
    /// Frees a claimed key whose request failed for a passing reason, so a retry can run.
    func releaseIdempotencyKey(_ key: String) async throws
    /// Audit rows, newest first.
    func audit(limit: Int) async throws -> [AuditRecord]
    /// Audit rows older than the row `beforeId` (all when nil), newest first.
    func audit(beforeId: Int64?, limit: Int) async throws -> [AuditRecord]

    // The console's reads (see `SQLStore+Console.swift`).
    /// The session behind a customer page link.
    func session(linkId: String) async throws -> SessionRecord?
    /// A customer's sessions by the keyed hash of their email, newest first.
    func sessions(customerKey: String, limit: Int) async throws -> [SessionRecord]
    /// Pending sessions whose deadline is before `deadlineBefore`, soonest first.
    func pendingSessions(deadlineBefore: Date, limit: Int) async throws -> [SessionRecord]
    func overviewCounts(now: Date, dayStart: Date, horizon: Date) async throws -> OverviewCounts
    /// Sessions decided since `since`, newest first.
    func decidedSessions(since: Date, limit: Int) async throws -> [DecidedSession]
    func review(id: Int64) async throws -> ReviewRecord?
    // The customer data lifecycle (see `SQLStore+Lifecycle.swift`).
    func pruneFinishedTasks(before: Date, limit: Int) async throws -> Int
    func pruneAttempts(before: Date, limit: Int) async throws -> Int
    func redactWebhookPayloads(before: Date, limit: Int) async throws -> Int
    func redactEventDetail(before: Date, limit: Int) async throws -> Int
    func pruneAdminAnswers(before: Date, limit: Int) async throws -> Int
    func ordersToErase(decidedBefore before: Date, limit: Int) async throws -> [String]
    /// Erases a final order's personal data (email, name, ids, payloads, its remembered
    /// verification), keeping its state, amounts, timeline and the audit log; idempotent.
    func eraseOrder(_ orderId: String, at: Date) async throws -> ErasureResult
    /// Rewrites every sealed column not yet sealed under the current key (older keys, values
    /// written before encryption), in batches; what it rewrote (see `SQLStore+Encryption.swift`).
    func reencryptPersonalData(batchSize: Int) async throws -> ReencryptionReport
    /// Throws `FieldCipherError` when the oldest or newest sealed email does not open.
    func checkEncryptionKeys() async throws
    /// The webhooks recorded for an order, oldest first.
    func webhooks(orderId: String, limit: Int) async throws -> [StoredWebhook]
    /// Marks an open review resolved; false when it was already resolved or does not exist.
    func resolveReview(id: Int64, by actor: String, note: String, at: Date) async throws -> Bool

    /// Cancels a task by id; false when it had already finished (not an error).
    func cancelTask(id: Int64, now: Date) async throws -> Bool
    /// Forgets a verified customer under any of `keys`; how many were remembered.
    func revokeVerifiedCustomer(keys: [String], at: Date) async throws -> Int
    /// Re-drives a dead task: a fresh set of attempts, due now.
    func retryDeadTask(id: Int64, now: Date) async throws -> Bool

    /// The store's background work (a connection pool, a LISTEN loop) until cancelled. Must be
    /// running while the store is used.
    func run() async throws
    /// Fails with a one-line reason if the database cannot be reached within `timeout`.
    func waitUntilReachable(timeout: TimeInterval) async throws
    func close() async throws
    /// The connection pool's use; nil for stores without a pool (SQLite's single writer).
    var connectionUse: ConnectionUse? { get }
}

/// How much of a connection pool is in use, for metrics.
public struct ConnectionUse: Sendable, Equatable {
    public var inUse: Int
    public var waiting: Int
    public var max: Int

    public init(inUse: Int, waiting: Int, max: Int) {
        self.inUse = inUse
        self.waiting = waiting
        self.max = max
    }
}

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Store {
    /// This store as the queue sees it. (Converting from inside the concrete type sidesteps a
    /// compiler limitation when upcasting `any Store` directly.)
    public var taskStore: any TaskStore<any StoreTransaction> { self }
}
