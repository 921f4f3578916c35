import Foundation
import VigilCore
import VigilQueue
import VigilStore

// Every JSON body Vigil answers with, as Codable types: the OpenAPI document's schemas are held
// to these by a test (OpenAPITests), and `json(_:_:)` encodes them. Optional fields are left out
// when nil.

// MARK: Health

struct LivenessBody: Codable, Equatable {
    var status = "ok"
    var version: String
    var safeMode: Bool
}

struct ReadinessBody: Codable, Equatable {
    var status: String
    var version: String
    var datastore: String
    var scheduler: String
    var datastoreLatencyMs: Double?
}

struct SelfTestBody: Codable, Equatable {
    var status: String
    var safeMode: Bool
    var veriff: String
    var sendgrid: String
    var payments: String
    var lightspeed: String
    var datastore: String
    var scheduler: String
    var details: [String: String]
    var warnings: [String]
}

// MARK: Webhooks

/// A verification session as the order webhook's 202 and the admin listing show it.
struct SessionSummary: Codable, Equatable {
    var orderId: String
    var status: SessionState
    var refundStatus: RefundStatus
    var deadline: Date
    var createdAt: Date
    var reminderAt: Date?
    var verificationUrl: String?
    var decidedAt: Date?
    var reason: OutcomeReason?
    var minimumAge: Int?
    var ageRule: String?
    var ofAge: Bool?
    var review: String?

    init(_ s: SessionRecord) {
        orderId = s.orderId
        status = s.state
        refundStatus = s.refundStatus
        deadline = s.deadline
        createdAt = s.createdAt
        reminderAt = s.reminderAt
        verificationUrl = s.verificationURL
        decidedAt = s.decidedAt
        reason = s.outcomeReason
        minimumAge = s.minimumAge
        ageRule = s.ageRule
        ofAge = s.ofAge
        review = s.reviewReason
    }
}

/// A repeat of a webhook already received.
struct IdempotentBody: Codable, Equatable {
    var idempotent = true
    var orderId: String?
}

/// An order event recorded without action.
struct IgnoredBody: Codable, Equatable {
    var ignored = true
    var event: String
    var orderId: String
}

/// A decision applied, or kept for review when no order matches it yet.
struct DecisionBody: Codable, Equatable {
    var accepted = true
    var orderId: String?
    var status: SessionState?
    var event: String?
    var review: Bool?
    var detail: String?
}

// MARK: Admin

struct OrderDetail: Codable, Equatable {
    var orderId: String
    var status: SessionState
    var refundStatus: RefundStatus
    var deadline: Date
    var createdAt: Date
    var reminderAt: Date?
    var verificationUrl: String?
    var decidedAt: Date?
    var reason: OutcomeReason?
    var minimumAge: Int?
    var ageRule: String?
    var ofAge: Bool?
    var review: String?
    var region: String?
    var customerEmail: String
    var verificationId: String?
    var tasks: [TaskView]
    var timeline: [TimelineEntry]
    var outbox: [OutboxEntry]
    /// Every provider call attempt, recorded before the call: `unknown` means "may have been sent".
    var attempts: [AttemptView]
}

struct AttemptView: Codable, Equatable {
    var taskId: Int64
    var kind: String
    var attempt: Int
    var owner: String?
    var startedAt: Date
    var endedAt: Date?
    var status: ProviderAttempt.Status
    var error: String?

    init(_ a: ProviderAttempt, task: TaskRecord?) {
        taskId = a.taskId
        kind = a.kind
        attempt = a.attempt
        owner = a.owner
        startedAt = a.startedAt
        endedAt = a.endedAt
        status = a.status(task: task)
        error = a.error
    }
}

struct OrderPage: Codable, Equatable {
    var orders: [SessionSummary]
    var nextCursor: String?
}

struct TaskView: Codable, Equatable {
    var id: Int64
    var name: String
    var queue: String
    var kind: String
    var state: TaskState
    var attempts: Int
    var scheduledAt: Date
    var createdAt: Date
    var updatedAt: Date
    var orderId: String?
    var lastError: String?
    var firstAttemptAt: Date?

    init(_ t: TaskRecord) {
        id = t.id
        name = t.name
        queue = t.queue
        kind = t.kind
        state = t.state
        attempts = t.attempts
        scheduledAt = t.scheduledAt
        createdAt = t.createdAt
        updatedAt = t.updatedAt
        orderId = t.orderId
        lastError = t.lastError
        firstAttemptAt = t.firstAttemptAt
    }
}

struct TaskList: Codable, Equatable {
    var tasks: [TaskView]
}

struct TaskRetried: Codable, Equatable {
    var retried: Bool
    var task: TaskView?
}

struct TaskCancelled: Codable, Equatable {
    var cancelled: Bool
    var task: TaskView?
}

struct TimelineEntry: Codable, Equatable {
    var id: Int64
    var type: String
    var at: Date
    var data: JSONValue

    init(_ e: EventLogEntry) {
        id = e.id
        type = e.type
        at = e.at
        data = JSONValue(parsing: e.data)
    }
}

struct OutboxEntry: Codable, Equatable {
    var provider: Provider
    var operation: ProviderOperation
    var idempotencyKey: String
    var mode: ProviderMode
    var at: Date
    var request: JSONValue
    var response: JSONValue?
    var taskId: Int64?

    init(_ o: OutboxRecord) {
        provider = o.provider
        operation = o.operation
        idempotencyKey = o.idempotencyKey
        mode = o.mode
        at = o.at
        request = JSONValue(parsing: o.request)
        response = o.response.map(JSONValue.init(parsing:))
        taskId = o.taskId
    }
}

struct ReviewView: Codable, Equatable {
    var id: Int64
    var reason: String
    var createdAt: Date
    var orderId: String?
    var eventId: String?
    var resolvedAt: Date?
    var resolvedBy: String?
    var note: String?

    init(_ r: ReviewRecord) {
        id = r.id
        reason = r.reason
        createdAt = r.createdAt
        orderId = r.orderId
        eventId = r.eventId
        resolvedAt = r.resolvedAt
        resolvedBy = r.resolvedBy
        note = r.note
    }
}

/// `POST /api/v1/orders/{orderId}/extend`: the new deadline, or how much later than the current one.
struct ExtendDeadline: Codable, Equatable {
    var deadline: Date?
    var by: String?
}

/// `POST /api/v1/reviews/{id}/resolve`.
struct ResolveReview: Codable, Equatable {
    var note: String
}

struct ReviewList: Codable, Equatable {
    var reviews: [ReviewView]
}

struct AuditView: Codable, Equatable {
    var id: Int64
    var at: Date
    var actor: String
    var action: String
    var outcome: String
    var target: String?
    var ip: String?
    var userAgent: String?
    var requestId: String?

    init(_ a: AuditRecord) {
        id = a.id
        at = a.at
        actor = a.actor
        action = a.action
        outcome = a.outcome
        target = a.target
        ip = a.ip
        userAgent = a.userAgent
        requestId = a.requestId
    }
}

struct AuditList: Codable, Equatable {
    var audit: [AuditView]
}

/// One line of the event-log export (NDJSON): stable fields, `orderId` null rather than absent.
struct ExportLine: Encodable {
    var id: Int64
    var orderId: String?
    var type: String
    var at: Date
    var data: JSONValue

    enum CodingKeys: String, CodingKey { case id, orderId, type, at, data }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(orderId, forKey: .orderId)
        try container.encode(type, forKey: .type)
        try container.encode(at, forKey: .at)
        try container.encode(data, forKey: .data)
    }
}

/// An RFC 9457 problem body.
struct ProblemBody: Codable, Equatable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var requestId: String
}
