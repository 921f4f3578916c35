import Foundation
import Logging
import VigilCore
import VigilQueue
import VigilStore

public struct FlowSettings: Sendable, Equatable {
    public var verificationDeadline: TimeInterval
    /// nil: no reminder.
    public var reminderAfter: TimeInterval?

    public init(verificationDeadline: TimeInterval = 72 * 3600, reminderAfter: TimeInterval? = 24 * 3600) {
        self.verificationDeadline = verificationDeadline
        self.reminderAfter = reminderAfter
    }
}

public enum OrderReceipt: Sendable, Equatable {
    case created(SessionRecord)
    /// The same `(event, orderId)` was received before.
    case duplicate
    /// Recorded, but not an event that opens a session.
    case ignored(event: String)
}

public enum DecisionReceipt: Sendable, Equatable {
    case applied(state: SessionState, event: String)
    case duplicate
    /// No session for the order: recorded and flagged for review.
    case unknownOrder
}

/// The verification flow: turns webhooks and timers into state changes and scheduled work, each
/// in one transaction. Side effects happen later, in tasks (see `FlowTaskHandler`).
public struct VerificationFlow: Sendable {
    public let store: any Store
    public let clock: any VigilClock
    public let settings: FlowSettings

    public init(store: any Store, clock: any VigilClock, settings: FlowSettings) {
        self.store = store
        self.clock = clock
        self.settings = settings
    }

    /// Records an order webhook once and, for `order.created`, opens the session and schedules
    /// its tasks in the same transaction.
    public func receiveOrder(_ order: OrderEvent, payload: String) async throws -> OrderReceipt {
        let now = clock.now()
        let settings = self.settings
        return try await store.write { tx in
            let fresh = try await tx.recordWebhook(StoredWebhook(
                source: .lightspeed, eventId: order.eventId, kind: order.event, orderId: order.orderId,
                payload: payload, receivedAt: now))
            guard fresh else { return .duplicate }
            guard order.event == "order.created" else {
                try await tx.log(orderId: order.orderId, type: "order.event_ignored", at: now,
                                         data: JSONCoding.object(["event": order.event]))
                return .ignored(event: order.event)
            }

            let deadline = now.addingTimeInterval(settings.verificationDeadline)
            let reminderAt = settings.reminderAfter.map { now.addingTimeInterval($0) }
            let session = SessionRecord(
                orderId: order.orderId, state: .pending, refundStatus: .none, customerEmail: order.customerEmail,
                customerName: order.customerName, customerId: order.customerId, orderTotal: order.orderTotal,
                currency: order.currency, paymentId: order.paymentId, verificationId: nil, verificationURL: nil,
                deadline: deadline, reminderAt: reminderAt, createdAt: now, updatedAt: now, decidedAt: nil)
            // The same order under another event id: its session exists, nothing more to do.
            guard try await tx.insertSession(session) else { return .duplicate }
            try await tx.log(orderId: order.orderId, type: "order.received", at: now, data: JSONCoding.object([
                "orderTotal": order.orderTotal, "currency": order.currency, "paymentId": order.paymentId]))
            try await tx.log(orderId: order.orderId, type: "session.created", at: now, data: JSONCoding.object([
                "deadline": deadline, "reminderAt": reminderAt]))
            var tasks = [Self.task(.openSession, order: order.orderId, at: now)]
            if let reminderAt { tasks.append(Self.task(.reminder, order: order.orderId, at: reminderAt)) }
            tasks.append(Self.task(.deadline, order: order.orderId, at: deadline))
            _ = try await tx.enqueue(tasks, now: now)
            return .created(session)
        }
    }

    /// Records a decision once and applies it. Decisions for unknown orders are kept for review.
    public func receiveDecision(_ decision: DecisionEvent, payload: String) async throws -> DecisionReceipt {
        let now = clock.now()
        return try await store.write { tx in
            let fresh = try await tx.recordWebhook(StoredWebhook(
                source: .veriff, eventId: decision.eventId, kind: decision.decision.rawValue,
                orderId: decision.orderId, payload: payload, receivedAt: now))
            guard fresh else { return .duplicate }
            var session: SessionRecord?
            if let orderId = decision.orderId { session = try await tx.session(orderId: orderId) }
            if session == nil, let verificationId = decision.verificationId {
                session = try await tx.session(verificationId: verificationId)
            }
            let details = JSONCoding.object([
                "status": decision.decision.rawValue, "code": decision.code, "eventId": decision.eventId,
                "verificationId": decision.verificationId, "reason": decision.reason])
            guard let session else {
                try await tx.log(orderId: decision.orderId, type: "decision.unknown_order", at: now, data: details)
                try await tx.addReview(
                    orderId: decision.orderId,
                    reason: "\(decision.decision.rawValue) decision for an order Vigil has no session for",
                    eventId: decision.eventId, at: now)
                return .unknownOrder
            }
            try await tx.log(orderId: session.orderId, type: "decision.received", at: now, data: details)
            let transition = SessionMachine.apply(
                .decision(decision.decision), to: session.state, refundStatus: session.refundStatus)
            try await Self.apply(transition, to: session, in: tx, at: now, trigger: decision.eventId)
            return .applied(state: transition.state, event: transition.event)
        }
    }

    /// Writes a transition: the session row, the timeline entry, and the tasks, cancellations
    /// and review items its effects call for.
    static func apply(_ transition: SessionTransition, to session: SessionRecord, in tx: any StoreTransaction,
                      at now: Date, trigger: String) async throws {
        let orderId = session.orderId
        var updated = session
        updated.state = transition.state
        updated.refundStatus = transition.refundStatus
        if transition.state != session.state {
            updated.decidedAt = now
        }
        if updated != session {
            updated.updatedAt = now
            try await tx.updateSession(updated)
        }
        try await tx.log(orderId: orderId, type: transition.event, at: now, data: JSONCoding.object([
            "state": transition.state.rawValue, "trigger": trigger]))
        for effect in transition.effects {
            switch effect {
            case .cancelTimers:
                try await tx.cancelTasks(orderId: orderId, kinds: [FlowTask.reminder.rawValue, FlowTask.deadline.rawValue], now: now)
            case .cancelReminder:
                try await tx.cancelTasks(orderId: orderId, kinds: [FlowTask.reminder.rawValue], now: now)
            case .releaseOrder:
                try await tx.enqueue(task(.updateOrder, order: orderId, at: now, suffix: OrderAction.release.rawValue,
                                          payload: OrderUpdatePayload(action: .release, note: "ID verification approved")), now: now)
            case .annotateOrder(let reason):
                try await tx.enqueue(task(.updateOrder, order: orderId, at: now, suffix: OrderAction.annotate.rawValue,
                                          payload: OrderUpdatePayload(action: .annotate, note: "ID verification \(reason); order refunded")), now: now)
            case .refund(let reason):
                try await tx.enqueue(task(.refund, order: orderId, at: now, payload: RefundPayload(reason: reason)), now: now)
            case .sendEmail(let kind):
                // Resubmission emails can repeat, once per decision; the others are once per order.
                let suffix = kind == .resubmission ? CompositeKey.of(kind.rawValue, trigger) : kind.rawValue
                try await tx.enqueue(task(.sendEmail, order: orderId, at: now, suffix: suffix,
                                          payload: EmailPayload(kind: kind)), now: now)
            case .flagForReview(let reason):
                try await tx.addReview(orderId: orderId, reason: reason, eventId: trigger, at: now)
            }
        }
    }

    static func task(_ kind: FlowTask, order: String, at: Date, suffix: String? = nil) -> NewTask {
        NewTask(name: TaskNames.of(kind, order: order, suffix: suffix), queue: kind.queue, kind: kind.rawValue,
                orderId: order, payload: "{}", runAt: at)
    }

    static func task<P: Encodable>(_ kind: FlowTask, order: String, at: Date, suffix: String? = nil, payload: P) throws -> NewTask {
        var new = task(kind, order: order, at: at, suffix: suffix)
        new.payload = try JSONCoding.string(payload)
        return new
    }
}
