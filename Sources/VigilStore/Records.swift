import Foundation
import VigilCore
import VigilQueue

/// A verification session: one per order.
public struct SessionRecord: Sendable, Equatable, Codable {
    public var orderId: String
    public var state: SessionState
    public var refundStatus: RefundStatus
    public var customerEmail: String
    public var customerName: String?
    public var customerId: String?
    public var orderTotal: Decimal
    public var currency: String?
    public var paymentId: String?
    public var verificationId: String?
    public var verificationURL: String?
    public var deadline: Date
    public var reminderAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var decidedAt: Date?
    /// Why the session ended as it did.
    public var outcomeReason: OutcomeReason?
    /// The policy's minimum age for this order, and the rule it came from (`default`, `US-CA`).
    public var minimumAge: Int?
    public var ageRule: String?
    /// Whether the verified customer was of age; nil until a decision said.
    public var ofAge: Bool?
    /// Where the order ships, as `US` or `US-CA`.
    public var region: String?
    /// Set while a person must decide (the provider's review, an approval without a date of
    /// birth): the deadline then flags the order instead of expiring it.
    public var reviewReason: String?
    public var source: OrderSource
    /// A keyed hash of the customer's normalised email.
    public var customerKey: String?
    /// The customer page's link id (its token adds a keyed signature); nil for sessions made
    /// before the page existed, whose emails link to the provider directly.
    public var linkId: String?

    public init(orderId: String, state: SessionState, refundStatus: RefundStatus, customerEmail: String,
                customerName: String?, customerId: String?, orderTotal: Decimal, currency: String?,
                paymentId: String?, verificationId: String?, verificationURL: String?, deadline: Date,
                reminderAt: Date?, createdAt: Date, updatedAt: Date, decidedAt: Date?,
                outcomeReason: OutcomeReason? = nil, minimumAge: Int? = nil, ageRule: String? = nil, ofAge: Bool? = nil,
                region: String? = nil, reviewReason: String? = nil, source: OrderSource = .contract, customerKey: String? = nil,
                linkId: String? = nil) {
        self.orderId = orderId
        self.state = state
        self.refundStatus = refundStatus
        self.customerEmail = customerEmail
        self.customerName = customerName
        self.customerId = customerId
        self.orderTotal = orderTotal
        self.currency = currency
        self.paymentId = paymentId
        self.verificationId = verificationId
        self.verificationURL = verificationURL
        self.deadline = deadline
        self.reminderAt = reminderAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.decidedAt = decidedAt
        self.outcomeReason = outcomeReason
        self.minimumAge = minimumAge
        self.ageRule = ageRule
        self.ofAge = ofAge
        self.region = region
        self.reviewReason = reviewReason
        self.source = source
        self.customerKey = customerKey
        self.linkId = linkId
    }

    public var snapshot: SessionSnapshot {
        SessionSnapshot(state: state, refundStatus: refundStatus, awaitingReview: reviewReason)
    }
}

/// A customer verified of age, remembered by a keyed hash of their shop customer id or email.
public struct VerifiedCustomer: Sendable, Equatable {
    public var customerKey: String
    /// The highest minimum age they were verified against.
    public var minimumAge: Int
    public var verifiedAt: Date
    public var orderId: String

    public init(customerKey: String, minimumAge: Int, verifiedAt: Date, orderId: String) {
        self.customerKey = customerKey
        self.minimumAge = minimumAge
        self.verifiedAt = verifiedAt
        self.orderId = orderId
    }
}

/// A decision kept until its order arrives.
public struct ParkedDecision: Sendable, Equatable {
    public var id: Int64
    public var orderId: String
    /// The decision as JSON (what the flow needs of it; never a date of birth).
    public var decision: String
    public var receivedAt: Date

    public init(id: Int64, orderId: String, decision: String, receivedAt: Date) {
        self.id = id
        self.orderId = orderId
        self.decision = decision
        self.receivedAt = receivedAt
    }
}

/// One row of the append-only event log (an order's timeline). "Event" alone means the shop's
/// order event; this is what Vigil recorded about it.
public struct EventLogEntry: Sendable, Equatable {
    public var id: Int64
    public var orderId: String?
    public var type: String
    public var at: Date
    /// A JSON object.
    public var data: String

    public init(id: Int64, orderId: String?, type: String, at: Date, data: String) {
        self.id = id
        self.orderId = orderId
        self.type = type
        self.at = at
        self.data = data
    }
}

/// One attempt at a task's provider call, written before the call is made.
public struct ProviderAttempt: Sendable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        /// The provider answered and the answer was recorded.
        case answered
        /// The call failed (an error, a timeout): the provider may still have acted on it.
        case failed
        /// The call was not made: the provider's circuit was open.
        case notSent = "not_sent"
    }

    public var id: Int64
    public var taskId: Int64
    public var orderId: String?
    /// The task's kind: which call (`open_session`, `send_email`, `refund`, ...).
    public var kind: String
    /// The task's attempt number this call belongs to.
    public var attempt: Int
    /// The worker that made it.
    public var owner: String?
    public var startedAt: Date
    public var endedAt: Date?
    /// None yet: in flight, or cut off by a crash (see `status(task:)`).
    public var outcome: Outcome?
    public var error: String?

    public init(id: Int64 = 0, taskId: Int64, orderId: String?, kind: String, attempt: Int, owner: String?, startedAt: Date,
                endedAt: Date? = nil, outcome: Outcome? = nil, error: String? = nil) {
        self.id = id
        self.taskId = taskId
        self.orderId = orderId
        self.kind = kind
        self.attempt = attempt
        self.owner = owner
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.error = error
    }

    public enum Status: String, Sendable, Codable {
        case inFlight = "in_flight", answered, failed, notSent = "not_sent", unknown
    }

    /// What is known of the call: with no outcome recorded, it is in flight while its task is
    /// still running that attempt, and unknown once the task has moved on (its process died
    /// with the call in flight or before recording the answer): the provider may have acted.
    public func status(task: TaskRecord?) -> Status {
        switch outcome {
        case .answered: return .answered
        case .failed: return .failed
        case .notSent: return .notSent
        case nil: break
        }
        if let task, task.state == .running, task.attempts == attempt { return .inFlight }
        return .unknown
    }
}

/// A provider call made, or in sandbox mode recorded instead of made.
public struct OutboxRecord: Sendable, Equatable {
    public var id: Int64
    public var idempotencyKey: String
    public var provider: Provider
    public var operation: ProviderOperation
    public var orderId: String?
    public var taskId: Int64?
    /// `sandbox` (recorded, not sent) or `live` (sent).
    public var mode: ProviderMode
    public var request: String
    public var response: String?
    public var at: Date

    public init(id: Int64 = 0, idempotencyKey: String, provider: Provider, operation: ProviderOperation, orderId: String?,
                taskId: Int64?, mode: ProviderMode, request: String, response: String?, at: Date) {
        self.id = id
        self.idempotencyKey = idempotencyKey
        self.provider = provider
        self.operation = operation
        self.orderId = orderId
        self.taskId = taskId
        self.mode = mode
        self.request = request
        self.response = response
        self.at = at
    }
}

/// Something a person should look at: a late or contradictory decision, a decision for an
/// unknown order, a refund that could not be made.
public struct ReviewRecord: Sendable, Equatable {
    public var id: Int64
    public var orderId: String?
    public var reason: String
    public var eventId: String?
    public var createdAt: Date
    public var resolvedAt: Date?
    /// Who resolved it (`user:NAME` or a token id), and their note.
    public var resolvedBy: String?
    public var note: String?

    public init(id: Int64, orderId: String?, reason: String, eventId: String?, createdAt: Date,
                resolvedAt: Date? = nil, resolvedBy: String? = nil, note: String? = nil) {
        self.id = id
        self.orderId = orderId
        self.reason = reason
        self.eventId = eventId
        self.createdAt = createdAt
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.note = note
    }
}

/// What a console user may do: `viewer` reads, `operator` also acts on orders.
public enum UserRole: String, Sendable, Codable, CaseIterable {
    case viewer
    case `operator`
}

/// A console user. The password is kept only as its bcrypt hash.
public struct UserRecord: Sendable, Equatable {
    public var name: String
    public var passwordHash: String
    public var role: UserRole
    public var disabledAt: Date?
    public var createdAt: Date

    public init(name: String, passwordHash: String, role: UserRole, disabledAt: Date?, createdAt: Date) {
        self.name = name
        self.passwordHash = passwordHash
        self.role = role
        self.disabledAt = disabledAt
        self.createdAt = createdAt
    }
}

/// A signed-in console browser, found by the SHA-256 of its cookie's token.
public struct ConsoleSession: Sendable, Equatable {
    public var user: UserRecord
    public var csrfToken: String
    public var expiresAt: Date

    public init(user: UserRecord, csrfToken: String, expiresAt: Date) {
        self.user = user
        self.csrfToken = csrfToken
        self.expiresAt = expiresAt
    }
}

/// What the console's overview counts.
public struct OverviewCounts: Sendable, Equatable {
    /// Sessions by state, all time.
    public var byState: [SessionState: Int]
    /// Pending sessions whose deadline falls before the horizon.
    public var dueSoon: Int
    /// Refunds completed and failed since the start of the day.
    public var refundsToday: Int
    public var refundsFailed: Int
    /// Reviews waiting for a person.
    public var openReviews: Int

    public init(byState: [SessionState: Int], dueSoon: Int, refundsToday: Int, refundsFailed: Int, openReviews: Int) {
        self.byState = byState
        self.dueSoon = dueSoon
        self.refundsToday = refundsToday
        self.refundsFailed = refundsFailed
        self.openReviews = openReviews
    }
}

/// A decided session as the overview's charts need it.
public struct DecidedSession: Sendable, Equatable {
    public var state: SessionState
    public var createdAt: Date
    public var decidedAt: Date

    public init(state: SessionState, createdAt: Date, decidedAt: Date) {
        self.state = state
        self.createdAt = createdAt
        self.decidedAt = decidedAt
    }
}

/// One audited action: an admin request, or a rejected admin or webhook authentication. The
/// actor is a token's id (a digest prefix), never the token.
public struct AuditRecord: Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var target: String?
    public var outcome: String
    public var ip: String?
    public var userAgent: String?
    public var requestId: String?

    public init(id: Int64 = 0, at: Date, actor: String, action: String, target: String?, outcome: String,
                ip: String?, userAgent: String?, requestId: String?) {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.ip = ip
        self.userAgent = userAgent
        self.requestId = requestId
    }
}

/// One queue at a glance, for metrics: tasks due now (including expired leases about to be
/// rescued), the oldest due time, tasks running under a live lease, and dead-lettered tasks.
public struct QueueStat: Sendable, Equatable {
    public var queue: String
    public var due: Int
    public var oldestDue: Date?
    public var running: Int
    public var dead: Int

    public init(queue: String, due: Int, oldestDue: Date?, running: Int, dead: Int) {
        self.queue = queue
        self.due = due
        self.oldestDue = oldestDue
        self.running = running
        self.dead = dead
    }
}

/// Where a page of the newest-first order listing ends: the last row's creation time and id.
public struct SessionCursor: Sendable, Equatable {
    public var createdAt: Date
    public var orderId: String

    public init(createdAt: Date, orderId: String) {
        self.createdAt = createdAt
        self.orderId = orderId
    }
}

/// What an `Idempotency-Key` on an admin request finds.
public enum IdempotentRequest: Sendable, Equatable {
    /// The key is new and now held by this request: run it, then record its answer.
    case claimed
    /// The request ran before: replay its answer.
    case answered(status: Int, body: String)
    /// A request with this key is running now.
    case inProgress
    /// The key was used for a different request.
    case mismatch(scope: String)
}

/// A webhook as received, kept for its idempotency record and for the order's history.
public struct StoredWebhook: Sendable, Equatable {
    public var source: WebhookSource
    public var eventId: String
    public var kind: String
    public var orderId: String?
    public var payload: String
    public var receivedAt: Date

    public init(source: WebhookSource, eventId: String, kind: String, orderId: String?, payload: String, receivedAt: Date) {
        self.source = source
        self.eventId = eventId
        self.kind = kind
        self.orderId = orderId
        self.payload = payload
        self.receivedAt = receivedAt
    }
}

/// A store's readiness: schema versions applied and known to this build.
public struct MigrationStatus: Sendable, Equatable {
    public var applied: [Int]
    public var pending: [Migration]
    public var unknown: [Int]

    public init(applied: [Int], pending: [Migration], unknown: [Int]) {
        self.applied = applied
        self.pending = pending
        self.unknown = unknown
    }
}

/// What erasing an order's personal data did.
public enum ErasureResult: String, Sendable, Codable {
    case erased
    case alreadyErased = "already_erased"
    /// Still pending: decide or cancel it first (its emails and calls need the data).
    case pending
    case notFound = "not_found"
}
