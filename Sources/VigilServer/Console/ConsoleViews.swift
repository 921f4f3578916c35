import Foundation
import VigilCore
import VigilQueue
import VigilStore

/// What the console's templates show, built from store records by pure functions. Every value a
/// template prints is a String, a number, a Bool or a list of these views: templates do no logic.

struct OrderRow {
    var orderId: String
    var href: String
    var state: String
    var refund: String
    var created: String
    var deadline: String
    var timeLeft: String
    var overdue: Bool
    var review: String?
    /// For the live countdown; pending orders only.
    var deadlineISO: String?

    init(_ s: SessionRecord, now: Date) {
        orderId = s.orderId
        href = "/console/orders/" + HTML.component(s.orderId)
        state = s.state.rawValue
        refund = s.refundStatus == .none ? "" : s.refundStatus.rawValue
        created = Words.stamp(s.createdAt)
        deadline = Words.stamp(s.deadline)
        overdue = s.state == .pending && s.deadline <= now
        timeLeft = s.state == .pending ? (s.deadline > now ? Words.span(s.deadline.timeIntervalSince(now)) + " left" : "deadline passed") : "—"
        review = s.reviewReason
        deadlineISO = s.state == .pending && s.deadline > now ? Timestamp.string(s.deadline) : nil
    }
}

struct OrderPageView {
    struct Fact { var label: String; var value: String }
    struct Timeline { var at: String; var type: String; var data: String }
    struct TaskRow { var id: String; var kind: String; var state: String; var attempts: Int; var scheduled: String; var error: String? }
    struct Call { var at: String; var provider: String; var operation: String; var mode: String; var key: String; var request: String; var response: String }
    struct Webhook { var at: String; var source: String; var kind: String; var eventId: String; var payload: String }
    struct Attempt { var started: String; var kind: String; var task: String; var attempt: Int; var owner: String; var status: String; var error: String }

    var orderId: String
    var actionBase: String
    var state: String
    var pending: Bool
    var canAct: Bool
    /// An operator may erase a decided order's personal data (once).
    var canErase: Bool
    var csrf: String
    var facts: [Fact]
    var timeline: [Timeline]
    var tasks: [TaskRow]
    var calls: [Call]
    /// Every call attempt, recorded before the call was made.
    var attempts: [Attempt]
    var hasAttempts: Bool
    var webhooks: [Webhook]
    var deadlineISO: String
    var extendDefault: String
    /// Calls in flight now, and "outcome unknown, may have been sent": an attempt cut off before
    /// its answer was recorded (its process died).
    var inFlight: [String]

    init(session s: SessionRecord, tasks: [TaskRecord], events: [EventLogEntry], outbox: [OutboxRecord], attempts: [ProviderAttempt],
         webhooks: [StoredWebhook], now: Date, canAct: Bool, csrf: String, customerPage: String?) {
        orderId = s.orderId
        actionBase = "/console/orders/" + HTML.component(s.orderId)
        state = s.state.rawValue
        pending = s.state == .pending
        self.canAct = canAct && pending
        canErase = canAct && !pending && s.customerEmail != ""
        self.csrf = csrf
        var facts = [
            Fact(label: "State", value: s.state.rawValue + (s.outcomeReason.map { " (\($0.rawValue))" } ?? "")),
            Fact(label: "Deadline", value: Words.stamp(s.deadline) + " UTC" + (s.state == .pending ? ", " + Words.relative(s.deadline, from: now) : "")),
            Fact(label: "Created", value: Words.stamp(s.createdAt) + " UTC"),
            Fact(label: "Customer", value: s.customerEmail),
            Fact(label: "Order total", value: "\(s.orderTotal) \(s.currency ?? "")"),
            Fact(label: "Refund", value: s.refundStatus.rawValue),
            Fact(label: "Age rule", value: s.minimumAge.map { "\($0)+ (\(s.ageRule ?? "default"))" } ?? "—"),
            Fact(label: "Of age", value: s.ofAge.map { $0 ? "yes" : "no" } ?? "not yet known"),
        ]
        if let decided = s.decidedAt { facts.append(Fact(label: "Decided", value: Words.stamp(decided) + " UTC")) }
        if let region = s.region { facts.append(Fact(label: "Region", value: region)) }
        if let review = s.reviewReason { facts.append(Fact(label: "Waiting for a person", value: review)) }
        if let verification = s.verificationId { facts.append(Fact(label: "Provider session", value: verification)) }
        if let page = customerPage { facts.append(Fact(label: "Customer page", value: page)) }
        self.facts = facts
        timeline = events.map { Timeline(at: Words.stamp($0.at), type: $0.type, data: Redact.json($0.data)) }
        self.tasks = tasks.map {
            TaskRow(id: String($0.id), kind: $0.kind, state: $0.state.rawValue, attempts: $0.attempts,
                    scheduled: Words.stamp($0.scheduledAt), error: $0.lastError.map { String($0.prefix(300)) })
        }
        calls = outbox.map {
            Call(at: Words.stamp($0.at), provider: $0.provider.rawValue, operation: $0.operation.rawValue, mode: $0.mode.rawValue,
                 key: $0.idempotencyKey, request: Redact.json($0.request), response: $0.response.map(Redact.json) ?? "(no answer recorded)")
        }
        self.webhooks = webhooks.map {
            Webhook(at: Words.stamp($0.receivedAt), source: $0.source.rawValue, kind: $0.kind, eventId: $0.eventId,
                    payload: Redact.json($0.payload))
        }
        let taskById = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let statuses = attempts.map { $0.status(task: taskById[$0.taskId]) }
        self.attempts = zip(attempts, statuses).map { a, status in
            Attempt(started: Words.stamp(a.startedAt), kind: a.kind, task: String(a.taskId), attempt: a.attempt, owner: a.owner ?? "—",
                    status: Self.words(status), error: a.error.map { String($0.prefix(300)) } ?? "")
        }
        hasAttempts = !attempts.isEmpty
        inFlight = zip(attempts, statuses).compactMap { a, status in
            let call = "\(a.kind) (task \(a.taskId), attempt \(a.attempt), started \(Words.stamp(a.startedAt)) UTC)"
            switch status {
            case .unknown: return call + ": outcome unknown, may have been sent (the process making it ended before its answer was recorded)"
            case .inFlight: return call + ": in flight"
            case .answered, .failed, .notSent: return nil
            }
        }
        deadlineISO = Timestamp.string(s.deadline)
        extendDefault = "24h"
    }
}

extension OrderPageView {
    static func words(_ status: ProviderAttempt.Status) -> String {
        switch status {
        case .answered: "answered"
        case .failed: "failed (the provider may still have acted)"
        case .notSent: "not sent (the provider's circuit was open)"
        case .inFlight: "in flight"
        case .unknown: "outcome unknown, may have been sent"
        }
    }
}

struct ReviewRow {
    var id: String
    var orderId: String?
    var href: String?
    var reason: String
    var created: String
    var resolveAction: String

    init(_ r: ReviewRecord) {
        id = String(r.id)
        orderId = r.orderId
        href = r.orderId.map { "/console/orders/" + HTML.component($0) }
        reason = r.reason
        created = Words.stamp(r.createdAt)
        resolveAction = "/console/review/\(r.id)/resolve"
    }
}

struct TaskListRow {
    var id: String
    var kind: String
    var queue: String
    var orderId: String?
    var href: String?
    var state: String
    var attempts: Int
    var updated: String
    var error: String?
    var dead: Bool
    var retryAction: String

    init(_ t: TaskRecord) {
        id = String(t.id)
        kind = t.kind
        queue = t.queue
        orderId = t.orderId
        href = t.orderId.map { "/console/orders/" + HTML.component($0) }
        state = t.state.rawValue
        attempts = t.attempts
        updated = Words.stamp(t.updatedAt)
        error = t.lastError.map { String($0.prefix(300)) }
        dead = t.state == .dead
        retryAction = "/console/tasks/\(t.id)/retry"
    }
}

struct AuditRow {
    var at: String
    var actor: String
    var action: String
    var target: String
    var outcome: String
    var ip: String

    init(_ a: AuditRecord) {
        at = Words.stamp(a.at)
        actor = a.actor
        action = a.action
        target = String((a.target ?? "").prefix(120))
        outcome = a.outcome
        ip = a.ip ?? ""
    }
}
