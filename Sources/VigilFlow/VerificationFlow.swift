import Foundation
import Logging
import VigilCore
import VigilQueue
import VigilStore

public struct FlowSettings: Sendable {
    public var verificationDeadline: TimeInterval
    /// nil: no reminder.
    public var reminderAfter: TimeInterval?
    /// The age policy: minimum ages by region, which orders need a check, returning customers.
    public var policy: AgePolicy
    /// Whether an order waiting for its check is put on hold at the shop.
    public var holdOrders: Bool
    /// Keyed hashes for customers (returning customers, lookups by email).
    public var customerKeys: CustomerKeys
    /// The customer page's links, and where Vigil is reached from outside (`VIGIL_PUBLIC_URL`):
    /// emails link to `<publicURL>/v/<token>`.
    public var links: CustomerLinks
    public var publicURL: String
    /// Finished tasks and webhook payloads older than this are pruned (`VIGIL_RETENTION`).
    public var retention: TimeInterval
    /// Personal data of orders decided longer ago than this is erased (`VIGIL_PERSONAL_DATA_RETENTION`).
    public var personalDataRetention: TimeInterval

    public init(verificationDeadline: TimeInterval = 72 * 3600, reminderAfter: TimeInterval? = 24 * 3600,
                policy: AgePolicy = AgePolicy(), holdOrders: Bool = true,
                customerKeys: CustomerKeys = .development, links: CustomerLinks = .development,
                publicURL: String = "http://127.0.0.1:8080", retention: TimeInterval = 30 * 86_400,
                personalDataRetention: TimeInterval = 90 * 86_400) {
        self.verificationDeadline = verificationDeadline
        self.reminderAfter = reminderAfter
        self.policy = policy
        self.holdOrders = holdOrders
        self.customerKeys = customerKeys
        self.links = links
        self.publicURL = publicURL
        self.retention = retention
        self.personalDataRetention = personalDataRetention
    }

    /// The customer page of a session, or nil for a session made before pages existed.
    public func pageURL(_ session: SessionRecord) -> String? {
        session.linkId.map { publicURL + "/v/" + links.token(linkId: $0) }
    }
}

public enum OrderReceipt: Sendable, Equatable {
    /// A new order: its session (pending, or already decided when no check was needed).
    case created(SessionRecord)
    /// The same delivery was received before.
    case duplicate
    /// Applied to the order's session (an update, a cancellation).
    case applied(SessionRecord, event: String)
    /// Recorded, but nothing to do.
    case ignored(event: String)
}

public enum DecisionReceipt: Sendable, Equatable {
    case applied(state: SessionState, event: String)
    case duplicate
    /// No session for the order yet: kept, and applied when the order arrives.
    case unknownOrder
}

/// What is kept of a decision that arrived before its order: no date of birth, only the facts
/// the policy needs (the age in whole years on the decision's day, whether the document had expired).
struct ParkedDecisionBody: Codable {
    var eventId: String
    var verificationId: String?
    var status: String
    var code: Int?
    var reason: String?
    var facts: DecisionFacts
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

    // MARK: Orders

    /// Records an order webhook once and applies it in the same transaction: a new order is
    /// checked against the policy and gets its session and tasks; an update or a cancellation
    /// changes the order's session.
    public func receiveOrder(_ order: OrderEvent, payload: String) async throws -> OrderReceipt {
        let now = clock.now()
        return try await store.write { tx in
            let fresh = try await tx.recordWebhook(StoredWebhook(
                source: .lightspeed, eventId: order.eventId, kind: order.event, orderId: order.orderId,
                payload: payload, receivedAt: now))
            guard fresh else { return .duplicate }
            switch order.kind {
            case .created: return try await create(order, in: tx, at: now)
            case .updated: return try await update(order, in: tx, at: now)
            case .cancelled: return try await cancel(order, in: tx, at: now)
            case .other:
                try await tx.log(orderId: order.orderId, type: "order.event_ignored", at: now,
                                 data: JSONCoding.object(["event": order.event]))
                return .ignored(event: order.event)
            }
        }
    }

    /// A new order. In the policy's order: no rule asks for a check → released at once; a region
    /// the shop does not sell to → declined before any check; a returning customer verified of age
    /// → approved at once; otherwise a pending session, its tasks, and the order held at the shop.
    private func create(_ order: OrderEvent, in tx: any StoreTransaction, at now: Date) async throws -> OrderReceipt {
        let policy = settings.policy
        let rule = policy.rule(for: order.region)
        let keys = settings.customerKeys.keys(customerId: order.customerId, email: order.customerEmail)
        var session = SessionRecord(
            orderId: order.orderId, state: .pending, refundStatus: .none, customerEmail: order.customerEmail,
            customerName: order.customerName, customerId: order.customerId, orderTotal: order.orderTotal,
            currency: order.currency, paymentId: order.paymentId, verificationId: nil, verificationURL: nil,
            deadline: now.addingTimeInterval(settings.verificationDeadline),
            reminderAt: settings.reminderAfter.map { now.addingTimeInterval($0) }, createdAt: now, updatedAt: now,
            decidedAt: nil, minimumAge: rule.minimumAge, ageRule: rule.rule, region: order.region?.description,
            source: order.source, customerKey: settings.customerKeys.email(order.customerEmail),
            linkId: CustomerLinks.newId())
        let needs = policy.verification.reason(items: order.lineItems, total: order.orderTotal, region: order.region,
                                               customerTags: order.customerTags)
        var returning: VerifiedCustomer?
        if needs != nil, policy.rememberFor > 0, !rule.blocked {
            returning = try await tx.verifiedCustomer(keys: keys, since: now.addingTimeInterval(-policy.rememberFor))
                .flatMap { $0.minimumAge >= rule.minimumAge ? $0 : nil }
        }
        if needs == nil {
            session.state = .notRequired
            session.outcomeReason = .notRequired
        } else if returning != nil {
            session.state = .approved
            session.outcomeReason = .returningCustomer
            session.ofAge = true
        }
        if session.state.isFinal {
            session.decidedAt = now
            session.reminderAt = nil
        }
        // The same order under another event id: its session exists, nothing more to do.
        guard try await tx.insertSession(session) else { return .duplicate }
        try await tx.log(orderId: order.orderId, type: "order.received", at: now, data: JSONCoding.object([
            "orderTotal": order.orderTotal, "currency": order.currency, "paymentId": order.paymentId,
            "source": order.source.rawValue, "region": order.region?.description, "items": order.lineItems.count]))
        let policyData = JSONCoding.object(["minimumAge": rule.minimumAge, "rule": rule.rule, "needs": needs])
        if session.state == .notRequired {
            try await tx.log(orderId: order.orderId, type: "session.not_required", at: now, data: policyData)
            return .created(session)
        }
        if let returning {
            try await tx.log(orderId: order.orderId, type: "session.returning_customer", at: now, data: JSONCoding.object([
                "minimumAge": rule.minimumAge, "rule": rule.rule, "verifiedAt": returning.verifiedAt,
                "verifiedOrder": returning.orderId]))
            return .created(session)
        }
        try await tx.log(orderId: order.orderId, type: "session.created", at: now, data: JSONCoding.object([
            "deadline": session.deadline, "reminderAt": session.reminderAt, "minimumAge": rule.minimumAge, "rule": rule.rule,
            "needs": needs]))
        if rule.blocked {
            // The shop does not sell age-restricted goods there: declined before any check.
            let transition = SessionTransition(
                state: .declined, refundStatus: .refundPending, reason: .regionBlocked,
                effects: [.refund(reason: .regionBlocked), .sendEmail(.declined), .cancelOrder(reason: .regionBlocked)],
                event: "session.declined")
            let decided = try await Self.apply(transition, to: session, in: tx, at: now, trigger: "policy:\(rule.rule)",
                                               settings: settings)
            return .created(decided)
        }
        var tasks = [Self.task(.openSession, order: order.orderId, at: now)]
        if settings.holdOrders {
            tasks.append(try Self.task(.updateOrder, order: order.orderId, at: now, suffix: OrderAction.hold.rawValue,
                                       payload: OrderUpdatePayload(action: .hold, note: "awaiting ID verification")))
        }
        if let reminderAt = session.reminderAt { tasks.append(Self.task(.reminder, order: order.orderId, at: reminderAt)) }
        tasks.append(Self.task(.deadline, order: order.orderId, at: session.deadline))
        _ = try await tx.enqueue(tasks, now: now)
        // A decision that came before the order is applied now.
        var current = session
        for parked in try await tx.takeParkedDecisions(orderId: order.orderId, at: now) {
            guard let body = try? JSONCoding.decode(ParkedDecisionBody.self, from: parked.decision) else { continue }
            current = try await applyDecision(status: body.status, facts: body.facts, eventId: body.eventId,
                                              to: current, in: tx, at: now).session
        }
        return .created(current)
    }

    /// A changed order: a new email address reaches the pending session (its next emails go there).
    private func update(_ order: OrderEvent, in tx: any StoreTransaction, at now: Date) async throws -> OrderReceipt {
        guard var session = try await tx.session(orderId: order.orderId) else {
            try await tx.log(orderId: order.orderId, type: "order.update_unknown_order", at: now, data: "{}")
            return .ignored(event: order.event)
        }
        guard session.state == .pending, session.customerEmail != order.customerEmail else {
            try await tx.log(orderId: order.orderId, type: "order.updated", at: now, data: JSONCoding.object(["changed": false]))
            return .applied(session, event: "order.updated")
        }
        session.customerEmail = order.customerEmail
        session.customerKey = settings.customerKeys.email(order.customerEmail)
        session.updatedAt = now
        try await tx.updateSession(session)
        try await tx.log(orderId: order.orderId, type: "order.updated", at: now,
                         data: JSONCoding.object(["changed": true, "field": "customerEmail"]))
        return .applied(session, event: "order.updated")
    }

    /// An order cancelled in the shop: its session is cancelled with its timers; no refund, no email.
    private func cancel(_ order: OrderEvent, in tx: any StoreTransaction, at now: Date) async throws -> OrderReceipt {
        guard let session = try await tx.session(orderId: order.orderId) else {
            try await tx.log(orderId: order.orderId, type: "order.cancel_unknown_order", at: now, data: "{}")
            return .ignored(event: order.event)
        }
        let transition = SessionMachine.apply(.orderCancelled, to: session.snapshot)
        let updated = try await Self.apply(transition, to: session, in: tx, at: now, trigger: order.eventId, settings: settings)
        return .applied(updated, event: transition.event)
    }

    // MARK: Decisions

    /// Records a decision once and applies it: an approval is judged by the age policy first.
    /// A decision for an order Vigil has no session for yet is kept and applied when it arrives.
    /// What is recorded of the delivery is what the decision needs (status, code, whether a date
    /// of birth was given, whether the document had expired), never the body as sent: Veriff's
    /// body carries the person's name, date of birth and document number.
    public func receiveDecision(_ decision: DecisionEvent) async throws -> DecisionReceipt {
        let now = clock.now()
        let settings = settings
        let facts = DecisionFacts(dateOfBirth: decision.dateOfBirth, documentValidUntil: decision.documentValidUntil,
                                  decidedAt: decision.decidedAt ?? now, timeZone: settings.policy.timeZone)
        let details = JSONCoding.object([
            "status": decision.status, "code": decision.code, "eventId": decision.eventId,
            "verificationId": decision.verificationId, "reason": decision.reason,
            "dateOfBirthGiven": decision.dateOfBirth != nil, "documentExpired": facts.documentExpired])
        return try await store.write { tx in
            let fresh = try await tx.recordWebhook(StoredWebhook(
                source: .veriff, eventId: decision.eventId, kind: decision.status,
                orderId: decision.orderId, payload: details, receivedAt: now))
            guard fresh else { return .duplicate }
            var session: SessionRecord?
            if let orderId = decision.orderId { session = try await tx.session(orderId: orderId) }
            if session == nil, let verificationId = decision.verificationId {
                session = try await tx.session(verificationId: verificationId)
            }
            guard let session else {
                try await tx.log(orderId: decision.orderId, type: "decision.unknown_order", at: now, data: details)
                if let orderId = decision.orderId {
                    let body = ParkedDecisionBody(eventId: decision.eventId, verificationId: decision.verificationId,
                                                  status: decision.status, code: decision.code, reason: decision.reason, facts: facts)
                    try await tx.parkDecision(orderId: orderId, decision: try JSONCoding.string(body), at: now)
                } else {
                    try await tx.addReview(orderId: nil, reason: "\(decision.status) decision naming no order Vigil knows",
                                           eventId: decision.eventId, at: now)
                }
                return .unknownOrder
            }
            try await tx.log(orderId: session.orderId, type: "decision.received", at: now, data: details)
            let (updated, event) = try await applyDecision(status: decision.status, facts: facts, eventId: decision.eventId,
                                                           to: session, in: tx, at: now)
            return .applied(state: updated.state, event: event)
        }
    }

    /// Applies one decision to a session: an approval goes through the age policy; a status
    /// Vigil does not act on is recorded and changes nothing.
    func applyDecision(status: String, facts: DecisionFacts, eventId: String, to session: SessionRecord,
                       in tx: any StoreTransaction, at now: Date) async throws -> (session: SessionRecord, event: String) {
        guard let decision = VerificationDecision(rawValue: status) else {
            try await tx.log(orderId: session.orderId, type: "decision.status_recorded", at: now,
                             data: JSONCoding.object(["status": status]))
            return (session, "decision.status_recorded")
        }
        var session = session
        let input: SessionInput
        if decision == .approved {
            let rule = AgePolicy.Applied(minimumAge: session.minimumAge ?? settings.policy.minimumAge,
                                         rule: session.ageRule ?? "default")
            let verdict = AgeVerdict.judge(facts, rule: rule)
            if session.state == .pending, verdict == .ofAge || verdict == .underage { session.ofAge = verdict == .ofAge }
            input = .approved(verdict)
        } else {
            input = .decision(decision)
        }
        let transition = SessionMachine.apply(input, to: session.snapshot)
        let updated = try await Self.apply(transition, to: session, in: tx, at: now, trigger: eventId, settings: settings)
        return (updated, transition.event)
    }

    // MARK: Staff

    /// Applies a person's action to an order in one transaction, or refuses it whole
    /// (`ActionRefused`) when the order's state does not allow it. `actor` is who did it
    /// (`user:NAME` or a token id), recorded in the timeline.
    public func act(_ action: OperatorAction, orderId: String, actor: String) async throws -> SessionRecord {
        let now = clock.now()
        let settings = settings
        return try await store.write { tx in
            guard let session = try await tx.session(orderId: orderId) else {
                throw ActionRefused("there is no verification session for order \(orderId)")
            }
            if let refused = SessionMachine.refusal(action, to: session.snapshot, now: now, deadline: session.deadline) {
                throw refused
            }
            let transition = SessionMachine.apply(.byOperator(action), to: session.snapshot)
            // Unique per action, so a second resend or extension is a new email or timer.
            let trigger = "\(actor)/\(action.name)/\(Int64((now.timeIntervalSince1970 * 1000).rounded()))"
            return try await Self.apply(transition, to: session, in: tx, at: now, trigger: trigger, settings: settings)
        }
    }

    // MARK: Transitions

    /// Writes a transition: the session row, the timeline entry, and the tasks, cancellations
    /// and review items its effects call for. Returns the session as written.
    @discardableResult
    static func apply(_ transition: SessionTransition, to session: SessionRecord, in tx: any StoreTransaction,
                      at now: Date, trigger: String, settings: FlowSettings) async throws -> SessionRecord {
        let orderId = session.orderId
        var updated = session
        updated.state = transition.state
        updated.refundStatus = transition.refundStatus
        if transition.state != session.state {
            updated.decidedAt = now
            updated.outcomeReason = transition.reason
            updated.reviewReason = nil
        }
        for effect in transition.effects {
            switch effect {
            case .awaitReview(let reason): updated.reviewReason = reason
            case .moveDeadline(let deadline): updated.deadline = deadline
            // The provider's lapsed session is no use to the customer page: it waits for the new one.
            case .reopenVerification: updated.verificationURL = nil
            default: break
            }
        }
        if updated != session {
            updated.updatedAt = now
            try await tx.updateSession(updated)
        }
        try await tx.log(orderId: orderId, type: transition.event, at: now, data: JSONCoding.object([
            "state": transition.state.rawValue, "reason": transition.reason?.rawValue, "trigger": trigger,
            "ofAge": updated.ofAge, "minimumAge": updated.minimumAge, "rule": updated.ageRule]))
        for effect in transition.effects {
            switch effect {
            case .cancelTimers:
                var kinds = [FlowTask.reminder.rawValue, FlowTask.deadline.rawValue]
                // A cancelled order needs nothing more: not its session opened, not its link sent.
                if transition.state == .cancelled {
                    kinds += [FlowTask.openSession.rawValue, FlowTask.sendEmail.rawValue, FlowTask.updateOrder.rawValue]
                }
                try await tx.cancelTasks(orderId: orderId, kinds: kinds, now: now)
            case .cancelReminder:
                try await tx.cancelTasks(orderId: orderId, kinds: [FlowTask.reminder.rawValue], now: now)
            case .releaseOrder:
                // Nothing was held, so there is nothing to lift.
                guard settings.holdOrders else { continue }
                try await tx.enqueue(task(.updateOrder, order: orderId, at: now, suffix: OrderAction.release.rawValue,
                                          payload: OrderUpdatePayload(action: .release, note: "ID verification approved")), now: now)
            case .cancelOrder(let reason):
                try await tx.enqueue(task(.updateOrder, order: orderId, at: now, suffix: OrderAction.cancel.rawValue,
                                          payload: OrderUpdatePayload(action: .cancel, note: OrderNotes.cancelled(reason))), now: now)
            case .refund(let reason):
                try await tx.enqueue(task(.refund, order: orderId, at: now, payload: RefundPayload(reason: reason.rawValue)), now: now)
            case .sendEmail(let kind):
                // Resubmission emails can repeat, once per decision, and links resent by staff once
                // per action; the others are once per order.
                let repeats = kind == .resubmission || transition.event == "session.link_resent"
                let suffix = repeats ? CompositeKey.of(kind.rawValue, trigger) : kind.rawValue
                try await tx.enqueue(task(.sendEmail, order: orderId, at: now, suffix: suffix,
                                          payload: EmailPayload(kind: kind)), now: now)
            case .rememberCustomer:
                guard settings.policy.rememberFor > 0, let minimumAge = updated.minimumAge else { continue }
                try await tx.rememberCustomer(
                    keys: settings.customerKeys.keys(customerId: updated.customerId, email: updated.customerEmail),
                    minimumAge: minimumAge, verifiedAt: now, orderId: orderId)
            case .flagForReview(let reason):
                try await tx.addReview(orderId: orderId, reason: reason, eventId: trigger, at: now)
            case .awaitReview:
                continue  // written with the session above
            case .moveDeadline(let deadline):
                try await tx.cancelTasks(orderId: orderId, kinds: [FlowTask.deadline.rawValue], now: now)
                try await tx.enqueue(task(.deadline, order: orderId, at: deadline, suffix: CompositeKey.of("moved", trigger)), now: now)
            case .reopenVerification:
                // One fresh provider session per lapse (the trigger is the decision's event id);
                // its link email is the first one's name, so nothing is sent again.
                try await tx.enqueue(task(.openSession, order: orderId, at: now, suffix: CompositeKey.of("reopen", trigger)), now: now)
            }
        }
        return updated
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

/// The notes Vigil writes on a shop's order.
enum OrderNotes {
    static func cancelled(_ reason: OutcomeReason) -> String {
        switch reason {
        case .underage: "ID verification: the customer is under the minimum age for this order; order refunded"
        case .documentExpired: "ID verification: the identity document had expired; order refunded"
        case .regionBlocked: "Age-restricted goods are not sold to this region; order refunded"
        case .expired: "ID verification was not completed in time; order refunded"
        default: "ID verification declined; order refunded"
        }
    }
}
