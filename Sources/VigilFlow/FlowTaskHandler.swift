import Foundation
import Tracing
import VigilCore
import VigilProviders
import VigilQueue
import VigilStore

/// Runs the flow's tasks. Provider calls happen in `perform`, with the task's idempotency key;
/// the call's outbox entry, the task's completion and what the call changes commit together in
/// the transaction that completes the task. Timers make no calls: they apply the state machine
/// inside that transaction.
public struct FlowTaskHandler: TaskHandler {
    public typealias Transaction = any StoreTransaction

    let store: any Store
    let providers: Providers
    let clock: any VigilClock
    let settings: FlowSettings
    /// The workers' name, kept with each call attempt.
    let owner: String?

    public init(store: any Store, providers: Providers, clock: any VigilClock, settings: FlowSettings = FlowSettings(),
                owner: String? = nil) {
        self.store = store
        self.providers = providers
        self.clock = clock
        self.settings = settings
        self.owner = owner
    }

    struct NotReady: Error, CustomStringConvertible {
        let description: String
    }

    public func perform(_ claim: ClaimedTask) async throws -> TaskOutcome<any StoreTransaction> {
        do {
            return try await run(claim)
        } catch let error as ProviderError where error.kind == .permanent {
            // The provider refused in a way a retry cannot change: dead-letter now, visible and re-drivable.
            throw PermanentTaskError(error.description)
        }
    }

    private func run(_ claim: ClaimedTask) async throws -> TaskOutcome<any StoreTransaction> {
        let task = claim.task
        guard let kind = FlowTask(rawValue: task.kind) else {
            throw PermanentTaskError("unknown task kind \(task.kind)")
        }
        if kind == .maintenance {
            try await DataRetention(store: store, settings: settings).run(now: clock.now())
            let next = DataRetention.nextRun(after: clock.now())
            return TaskOutcome { tx in _ = try await tx.enqueue(DataRetention.task(at: next), now: next) }
        }
        guard let orderId = task.orderId else {
            throw PermanentTaskError("task \(task.name) has no order")
        }
        let call = ProviderCall(orderId: orderId, taskId: task.id, idempotencyKey: claim.idempotencyKey)
        switch kind {
        case .reminder: return timer(.reminderDue, claim, orderId)
        case .deadline: return timer(.deadlineReached, claim, orderId)
        case .openSession: return try await openSession(claim, call)
        case .sendEmail: return try await sendEmail(claim, call)
        case .refund: return try await refund(claim, call)
        case .refundPayment: return try await refundPayment(claim, call)
        case .updateOrder: return try await updateOrder(claim, call)
        case .maintenance: throw PermanentTaskError("maintenance runs above")
        }
    }

    /// A timer makes no call: it applies the state machine in the completing transaction.
    private func timer(_ input: SessionInput, _ claim: ClaimedTask, _ orderId: String) -> TaskOutcome<any StoreTransaction> {
        let clock = clock, trigger = claim.task.name, settings = settings, dueAt = claim.task.scheduledAt
        return TaskOutcome { tx in
            guard let session = try await tx.session(orderId: orderId) else { return }
            // A deadline moved later by staff has its own timer; one due before it is left over.
            // Judged by when the timer was due, not by this process's clock, which may be skewed
            // or stepped between the claim and now.
            if input == .deadlineReached, dueAt < session.deadline { return }
            let transition = SessionMachine.apply(input, to: session.snapshot)
            // A leftover timer on a finished session changes nothing and needs no timeline row.
            if transition.event == "timer.ignored" { return }
            try await VerificationFlow.apply(transition, to: session, in: tx, at: clock.now(), trigger: trigger, settings: settings)
        }
    }

    /// Opens the session at the ID provider, stores its link, and (still pending) emails it.
    private func openSession(_ claim: ClaimedTask, _ call: ProviderCall) async throws -> TaskOutcome<any StoreTransaction> {
        let orderId = call.orderId, clock = clock
        let session = try await requireSession(orderId)
        // Re-checked before the call: an order decided or cancelled meanwhile needs no session.
        guard session.state == .pending else {
            return TaskOutcome { tx in
                try await tx.log(orderId: orderId, type: "verification.open_skipped", at: clock.now(),
                                 data: JSONCoding.object(["state": session.state.rawValue]))
            }
        }
        let (ref, record) = try await once(claim, call) {
            try await providers.identity.createSession(VerificationRequest(
                orderId: orderId, customerName: session.customerName, customerEmail: session.customerEmail), call: call)
        }
        return TaskOutcome(record: record) { tx in
            guard var current = try await tx.session(orderId: orderId) else { return }
            let now = clock.now()
            current.verificationId = ref.id
            current.verificationURL = ref.url
            current.updatedAt = now
            try await tx.updateSession(current)
            try await tx.log(orderId: orderId, type: "verification.session_opened", at: now,
                             data: JSONCoding.object(["verificationId": ref.id]))
            if current.state == .pending {
                try await tx.enqueue(VerificationFlow.task(
                    .sendEmail, order: orderId, at: now, suffix: EmailKind.verificationLink.rawValue,
                    payload: EmailPayload(kind: .verificationLink)), now: now)
            }
        }
    }

    private func sendEmail(_ claim: ClaimedTask, _ call: ProviderCall) async throws -> TaskOutcome<any StoreTransaction> {
        let orderId = call.orderId, clock = clock
        let payload = try decode(EmailPayload.self, claim.task)
        let session = try await requireSession(orderId)
        let needsLink: Set<EmailKind> = [.verificationLink, .reminder, .resubmission]
        if needsLink.contains(payload.kind) {
            // A link email is pointless once the customer has an outcome.
            guard session.state == .pending else {
                return TaskOutcome { tx in
                    try await tx.log(orderId: orderId, type: "email.skipped", at: clock.now(),
                                     data: JSONCoding.object(["kind": payload.kind.rawValue, "state": session.state.rawValue]))
                }
            }
            // Links go to Vigil's customer page, which opens the provider's session itself; a
            // session made before pages existed links to the provider, once its session is open.
            guard settings.pageURL(session) != nil || session.verificationURL != nil else {
                throw NotReady(description: "the verification link is not open yet; retrying after the session is created")
            }
        }
        let link = settings.pageURL(session) ?? session.verificationURL
        let (_, record) = try await once(claim, call) {
            try await providers.email.send(EmailMessage(
                kind: payload.kind, to: session.customerEmail, customerName: session.customerName,
                orderId: orderId, verificationURL: link, deadline: session.deadline), call: call)
        }
        return TaskOutcome(record: record) { tx in
            try await tx.log(orderId: orderId, type: "email.sent", at: clock.now(),
                             data: JSONCoding.object(["kind": payload.kind.rawValue]))
        }
    }

    private func refund(_ claim: ClaimedTask, _ call: ProviderCall) async throws -> TaskOutcome<any StoreTransaction> {
        let orderId = call.orderId, clock = clock
        let payload = try decode(RefundPayload.self, claim.task)
        let session = try await requireSession(orderId)
        guard session.orderTotal > 0 else {
            // Nothing was paid: nothing to refund, and no refund of zero is ever sent.
            return TaskOutcome { tx in
                guard var current = try await tx.session(orderId: orderId) else { return }
                current.refundStatus = .none
                current.updatedAt = clock.now()
                try await tx.updateSession(current)
                try await tx.log(orderId: orderId, type: "refund.not_needed", at: clock.now(),
                                 data: JSONCoding.object(["reason": payload.reason, "orderTotal": session.orderTotal]))
            }
        }
        if session.paymentId == nil, session.source == .lightspeed {
            // The order came from the shop's own webhook, which names no payment: ask the shop
            // which payments it has on record and refund each, never more than the order's total.
            let (found, record) = try await once(claim, call) {
                try await providers.shop.payments(orderId: orderId, orderTotal: session.orderTotal,
                                                  currency: session.currency, call: call)
            }
            let plan = RefundPlan.capped(found.payments, total: session.orderTotal)
            let paid = Dictionary(found.payments.map { ($0.reference, $0.amount) }, uniquingKeysWith: { first, _ in first })
            if plan.isEmpty { return needsManualRefund(orderId, payload.reason, record: record, detail: "the shop has no payment on record") }
            return TaskOutcome(record: record) { tx in
                let now = clock.now()
                let tasks = try plan.map { payment in
                    try VerificationFlow.task(.refundPayment, order: orderId, at: now, suffix: payment.reference, payload:
                        PaymentRefundPayload(reason: payload.reason, reference: payment.reference, amount: payment.amount,
                                             paid: paid[payment.reference], currency: payment.currency ?? session.currency))
                }
                _ = try await tx.enqueue(tasks, now: now)
                try await tx.log(orderId: orderId, type: "refund.planned", at: now, data: JSONCoding.object([
                    "payments": plan.count, "amount": plan.reduce(Decimal(0)) { $0 + $1.amount }, "reason": payload.reason]))
            }
        }
        if session.paymentId == nil, providers.payments.requiresPaymentReference {
            // Nothing names the payment to refund: a person must do it. No attempt can help.
            return needsManualRefund(orderId, payload.reason, record: nil, detail: "the order has no paymentId")
        }
        let (result, record) = try await once(claim, call) {
            try await providers.payments.refund(RefundRequest(
                orderId: orderId, paymentId: session.paymentId, amount: session.orderTotal, paid: session.orderTotal,
                currency: session.currency, reason: payload.reason), call: call)
        }
        return TaskOutcome(record: record) { tx in
            guard var current = try await tx.session(orderId: orderId) else { return }
            let now = clock.now()
            current.refundStatus = .refunded
            current.updatedAt = now
            try await tx.updateSession(current)
            try await tx.log(orderId: orderId, type: "refund.completed", at: now, data: JSONCoding.object([
                "refundId": result.refundId, "amount": current.orderTotal, "currency": current.currency,
                "reason": payload.reason]))
        }
    }

    /// Refunds one payment the shop reported; the order is refunded when its last one is.
    private func refundPayment(_ claim: ClaimedTask, _ call: ProviderCall) async throws -> TaskOutcome<any StoreTransaction> {
        let orderId = call.orderId, clock = clock
        let payload = try decode(PaymentRefundPayload.self, claim.task)
        guard payload.amount > 0, Money.isValid(payload.amount) else {
            throw PermanentTaskError("refund of \(payload.amount) for payment \(payload.reference) is not a positive amount")
        }
        let (result, record) = try await once(claim, call) {
            try await providers.payments.refund(RefundRequest(
                orderId: orderId, paymentId: payload.reference, amount: payload.amount, paid: payload.paid ?? payload.amount,
                currency: payload.currency, reason: payload.reason), call: call)
        }
        return TaskOutcome(record: record) { tx in
            let now = clock.now()
            try await tx.log(orderId: orderId, type: "refund.completed", at: now, data: JSONCoding.object([
                "refundId": result.refundId, "payment": payload.reference, "amount": payload.amount,
                "currency": payload.currency, "reason": payload.reason]))
            // This task still counts as running here; the order is refunded when it is the last.
            let left = try await tx.countActiveTasks(orderId: orderId, kinds: [FlowTask.refundPayment.rawValue, FlowTask.refund.rawValue])
            guard left <= 1, var current = try await tx.session(orderId: orderId) else { return }
            current.refundStatus = .refunded
            current.updatedAt = now
            try await tx.updateSession(current)
        }
    }

    /// A refund no attempt can make: the order goes to a person.
    private func needsManualRefund(_ orderId: String, _ reason: String, record: (@Sendable (any StoreTransaction) async throws -> Void)?,
                                   detail: String) -> TaskOutcome<any StoreTransaction> {
        let clock = clock
        return TaskOutcome(record: record) { tx in
            guard var current = try await tx.session(orderId: orderId) else { return }
            let now = clock.now()
            current.refundStatus = .refundFailed
            current.updatedAt = now
            try await tx.updateSession(current)
            try await tx.log(orderId: orderId, type: "refund.needs_review", at: now, data: JSONCoding.object([
                "reason": reason, "detail": "\(detail); refund it by hand"]))
            try await tx.addReview(orderId: orderId, reason: "refund needed (\(reason)) but \(detail)", eventId: nil, at: now)
        }
    }

    private func updateOrder(_ claim: ClaimedTask, _ call: ProviderCall) async throws -> TaskOutcome<any StoreTransaction> {
        let orderId = call.orderId, clock = clock
        let payload = try decode(OrderUpdatePayload.self, claim.task)
        switch payload.action {
        case .hold:
            // A hold is for a pending order only: once decided, holding it would undo the release.
            let session = try await requireSession(orderId)
            guard session.state == .pending else {
                return TaskOutcome { tx in
                    try await tx.log(orderId: orderId, type: "order.hold_skipped", at: clock.now(),
                                     data: JSONCoding.object(["state": session.state.rawValue]))
                }
            }
        case .release, .cancel:
            // After the hold, never before or beside it: a hold still to run (or in flight) goes
            // first, or it would leave the decided order on hold.
            let hold = try await store.task(named: TaskNames.of(.updateOrder, order: orderId, suffix: OrderAction.hold.rawValue))
            if let hold, [.scheduled, .retrying, .running].contains(hold.state) {
                throw NotReady(description: "the order's hold has not finished; releasing after it")
            }
        case .annotate:
            break
        }
        let (_, record) = try await once(claim, call) {
            try await providers.shop.updateOrder(OrderUpdate(orderId: orderId, action: payload.action, note: payload.note), call: call)
        }
        let event: String
        switch payload.action {
        case .hold: event = "order.held"
        case .release: event = "order.released"
        case .cancel: event = "order.cancelled_at_shop"
        case .annotate: event = "order.annotated"
        }
        return TaskOutcome(record: record) { tx in
            try await tx.log(orderId: orderId, type: event, at: clock.now(), data: JSONCoding.object(["note": payload.note]))
        }
    }

    /// Makes a task's provider call at most once per answer: when an earlier attempt of this task
    /// got an answer (recorded in the outbox although that attempt did not complete the task, say
    /// because it lost its lease), the answer is reused and nothing is sent. Otherwise an attempt
    /// is committed first ("outcome unknown, may have been sent" should the process die before
    /// the answer is recorded), the call is made, and its outbox entry and the attempt's end are
    /// returned, to be written with the task's completion. A first attempt has no earlier one, so
    /// only retries pay for the look-ups.
    private func once<Value>(_ claim: ClaimedTask, _ call: ProviderCall,
                             _ make: () async throws -> ProviderReply<Value>) async throws
        -> (Value, (@Sendable (any StoreTransaction) async throws -> Void)?) {
        let task = claim.task
        if task.attempts > 1, let earlier = try await store.outbox(idempotencyKey: call.idempotencyKey),
           let response = earlier.response, let value = try? JSONCoding.decode(Value.self, from: response) {
            return (value, nil)
        }
        // Earlier calls of this task cut off with no outcome: this call may be their repeat. A task
        // that ran before has a later attempt number, or was handed back (a shutdown, an open
        // circuit) under the same number with a note; a first run has neither and needs no look-up.
        let ranBefore = task.attempts > 1 || task.lastError != nil
        let repeats = ranBefore ? try await store.attempts(taskId: task.id).filter { $0.outcome == nil } : []
        let attempt = ProviderAttempt(taskId: task.id, orderId: call.orderId, kind: task.kind, attempt: task.attempts,
                                      owner: owner, startedAt: clock.now())
        let attemptId: Int64
        if repeats.isEmpty {
            attemptId = try await store.startAttempt(attempt)
        } else {
            // The call is about to be made again after one whose outcome is unknown: the provider
            // may get it twice, unless it carries a key the provider honours (refunds). Said on
            // the timeline with the attempt, before the call, whatever this one's outcome.
            let keyed = [FlowTask.refund.rawValue, FlowTask.refundPayment.rawValue].contains(task.kind)
            let now = clock.now()
            attemptId = try await store.write { tx in
                let id = try await tx.startAttempt(attempt)
                for earlier in repeats {
                    try await tx.log(orderId: call.orderId, type: "provider.call_repeated", at: now, data: JSONCoding.object([
                        "task": task.kind, "taskId": task.id, "attempt": attempt.attempt, "unknownAttempt": earlier.attempt,
                        "unknownSince": Timestamp.string(earlier.startedAt), "keyed": keyed]))
                }
                return id
            }
        }
        // One span per provider call (sandbox calls too: they stand where the real call would).
        let reply: ProviderReply<Value>
        do {
            reply = try await withSpan("provider \(task.kind)", ofKind: .client) { span in
                span.updateAttributes { attributes in
                    attributes["vigil.order_id"] = call.orderId
                    attributes["vigil.task.id"] = call.taskId
                }
                let reply = try await make()
                span.updateAttributes { attributes in
                    attributes["vigil.provider"] = reply.provider.rawValue
                    attributes["vigil.provider.operation"] = reply.operation.rawValue
                    attributes["vigil.provider.mode"] = reply.mode.rawValue
                }
                return reply
            }
        } catch {
            // The call's own failure is recorded here, apart from the task's: when instead the
            // answer cannot be recorded (the database went away after the provider answered),
            // the attempt stays open, "outcome unknown", and its repeat is named. Should this
            // write fail too, the attempt stays open: the safe reading.
            // A call cut off by a shutdown is left open: it may have gone out, and its re-run names it.
            if !(error is CancellationError) {
                let outcome: ProviderAttempt.Outcome = error is ProviderUnavailable ? .notSent : .failed
                try? await store.endAttempt(id: attemptId, outcome: outcome, error: "\(error)", at: clock.now())
            }
            throw error
        }
        let now = clock.now()
        let entry = OutboxRecord(
            idempotencyKey: call.idempotencyKey, provider: reply.provider, operation: reply.operation, orderId: call.orderId,
            taskId: call.taskId, mode: reply.mode, request: reply.request, response: try reply.response, at: now)
        return (reply.value, { tx in
            try await tx.recordOutbox(entry)
            try await tx.endAttempt(id: attemptId, outcome: .answered, error: nil, at: now)
        })
    }

    public func failed(_ claim: ClaimedTask, error: String, dead: Bool) -> (@Sendable (any StoreTransaction) async throws -> Void)? {
        let task = claim.task
        guard let orderId = task.orderId else { return nil }
        let now = clock.now()
        return { tx in
            try await tx.log(orderId: orderId, type: dead ? "task.dead" : "task.failed", at: now, data: JSONCoding.object([
                "task": task.kind, "taskId": task.id, "attempt": task.attempts, "error": error]))
            guard dead else { return }
            if [FlowTask.refund.rawValue, FlowTask.refundPayment.rawValue].contains(task.kind),
               var session = try await tx.session(orderId: orderId) {
                session.refundStatus = .refundFailed
                session.updatedAt = now
                try await tx.updateSession(session)
                try await tx.addReview(orderId: orderId, reason: "refund failed: \(error)", eventId: nil, at: now)
            }
        }
    }

    private func requireSession(_ orderId: String) async throws -> SessionRecord {
        guard let session = try await store.session(orderId: orderId) else {
            throw PermanentTaskError("no session for order \(orderId)")
        }
        return session
    }

    private func decode<T: Decodable>(_ type: T.Type, _ task: TaskRecord) throws -> T {
        do {
            return try JSONCoding.decode(type, from: task.payload)
        } catch {
            throw PermanentTaskError("task \(task.name) has an unreadable payload")
        }
    }
}
