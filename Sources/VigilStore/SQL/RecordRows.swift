import Foundation
import VigilCore
import VigilQueue

/// The column lists statements read, once for both backends.
enum Columns {
    static let verifiedCustomer = "customer_key, minimum_age, verified_at, order_id"
    static let parkedDecision = "id, order_id, decision, received_at"
    static let session = """
        order_id, state, refund_status, customer_email, customer_name, customer_id, order_total, currency, \
        payment_id, verification_id, verification_url, deadline, reminder_at, created_at, updated_at, decided_at, \
        outcome_reason, minimum_age, age_rule, of_age, region, review_reason, source, customer_key, link_id
        """
    static let task = """
        id, name, queue, kind, order_id, payload, state, attempts, scheduled_at, first_attempt_at, last_error, \
        created_at, updated_at, trace_context
        """
    static let outbox = "id, idempotency_key, provider, operation, order_id, task_id, mode, request, response, at"
    static let event = "id, order_id, type, at, data"
    static let attempt = "id, task_id, order_id, kind, attempt, owner, started_at, ended_at, outcome, error"
    static let review = "id, order_id, reason, event_id, created_at, resolved_at, resolved_by, note"
    static let user = "name, password_hash, role, disabled_at, created_at"
    static let audit = "id, at, actor, action, target, outcome, ip, user_agent, request_id"
}

extension SessionRecord {
    init(row r: SQLRow, cipher: FieldCipher) throws {
        let orderId = try r.text(required: "order_id")
        self.init(
            orderId: orderId, state: try r.enum(SessionState.self, "state"),
            refundStatus: try r.enum(RefundStatus.self, "refund_status"),
            customerEmail: try cipher.open(try r.text(required: "customer_email"), context: SealedPlace.email(orderId: orderId)),
            customerName: try r.text("customer_name").map { try cipher.open($0, context: SealedPlace.name(orderId: orderId)) },
            customerId: try r.text("customer_id"), orderTotal: try r.decimal(required: "order_total"),
            currency: try r.text("currency"), paymentId: try r.text("payment_id"),
            verificationId: try r.text("verification_id"), verificationURL: try r.text("verification_url"),
            deadline: try r.date(required: "deadline"), reminderAt: try r.date("reminder_at"),
            createdAt: try r.date(required: "created_at"), updatedAt: try r.date(required: "updated_at"),
            decidedAt: try r.date("decided_at"),
            outcomeReason: try r.text("outcome_reason").map { raw in
                guard let reason = OutcomeReason(rawValue: raw) else { throw StoreError("unknown outcome reason '\(raw)'") }
                return reason
            },
            minimumAge: try r.int("minimum_age"), ageRule: try r.text("age_rule"), ofAge: try r.bool("of_age"),
            region: try r.text("region"), reviewReason: try r.text("review_reason"),
            source: try r.enum(OrderSource.self, "source"), customerKey: try r.text("customer_key"),
            linkId: try r.text("link_id"))
    }

    /// In the order of `Columns.session`, the personal columns sealed.
    func binds(_ cipher: FieldCipher) throws -> [SQLValue] {
        [.text(orderId), .text(state.rawValue), .text(refundStatus.rawValue),
         .text(try cipher.seal(customerEmail, context: SealedPlace.email(orderId: orderId))),
         .text(try customerName.map { try cipher.seal($0, context: SealedPlace.name(orderId: orderId)) }), .text(customerId), .decimal(orderTotal), .text(currency), .text(paymentId),
         .text(verificationId), .text(verificationURL), .date(deadline), .date(reminderAt), .date(createdAt),
         .date(updatedAt), .date(decidedAt), .text(outcomeReason?.rawValue), .int(minimumAge), .text(ageRule),
         .bool(ofAge), .text(region), .text(reviewReason), .text(source.rawValue), .text(customerKey), .text(linkId)]
    }
}

extension TaskRecord {
    init(row r: SQLRow) throws {
        self.init(
            id: try r.int64(required: "id"), name: try r.text(required: "name"), queue: try r.text(required: "queue"),
            kind: try r.text(required: "kind"), orderId: try r.text("order_id"), payload: try r.text(required: "payload"),
            state: try r.enum(TaskState.self, "state"), attempts: try r.int(required: "attempts"),
            scheduledAt: try r.date(required: "scheduled_at"), firstAttemptAt: try r.date("first_attempt_at"),
            lastError: try r.text("last_error"), createdAt: try r.date(required: "created_at"),
            updatedAt: try r.date(required: "updated_at"), traceContext: try r.text("trace_context"))
    }
}

extension OutboxRecord {
    init(row r: SQLRow, cipher: FieldCipher) throws {
        let key = try r.text(required: "idempotency_key")
        self.init(
            id: try r.int64(required: "id"), idempotencyKey: key,
            provider: try r.enum(Provider.self, "provider"), operation: try r.enum(ProviderOperation.self, "operation"),
            orderId: try r.text("order_id"), taskId: try r.int64("task_id"), mode: try r.enum(ProviderMode.self, "mode"),
            request: try cipher.openJSON(try r.text(required: "request"), context: SealedPlace.outboxRequest(idempotencyKey: key)),
            response: try r.text("response"), at: try r.date(required: "at"))
    }
}

extension ProviderAttempt {
    init(row r: SQLRow) throws {
        self.init(id: try r.int64(required: "id"), taskId: try r.int64(required: "task_id"), orderId: try r.text("order_id"),
                  kind: try r.text(required: "kind"), attempt: try r.int(required: "attempt"), owner: try r.text("owner"),
                  startedAt: try r.date(required: "started_at"), endedAt: try r.date("ended_at"),
                  outcome: try r.text("outcome").map { raw in
                      guard let outcome = Outcome(rawValue: raw) else { throw StoreError("unknown attempt outcome '\(raw)'") }
                      return outcome
                  },
                  error: try r.text("error"))
    }
}

extension EventLogEntry {
    init(row r: SQLRow) throws {
        self.init(id: try r.int64(required: "id"), orderId: try r.text("order_id"), type: try r.text(required: "type"),
                  at: try r.date(required: "at"), data: try r.text(required: "data"))
    }
}

extension ReviewRecord {
    init(row r: SQLRow) throws {
        self.init(id: try r.int64(required: "id"), orderId: try r.text("order_id"), reason: try r.text(required: "reason"),
                  eventId: try r.text("event_id"), createdAt: try r.date(required: "created_at"),
                  resolvedAt: try r.date("resolved_at"), resolvedBy: try r.text("resolved_by"), note: try r.text("note"))
    }
}

extension AuditRecord {
    init(row r: SQLRow) throws {
        self.init(id: try r.int64(required: "id"), at: try r.date(required: "at"), actor: try r.text(required: "actor"),
                  action: try r.text(required: "action"), target: try r.text("target"),
                  outcome: try r.text(required: "outcome"), ip: try r.text("ip"), userAgent: try r.text("user_agent"),
                  requestId: try r.text("request_id"))
    }
}

extension VerifiedCustomer {
    init(row r: SQLRow) throws {
        self.init(customerKey: try r.text(required: "customer_key"), minimumAge: try r.int(required: "minimum_age"),
                  verifiedAt: try r.date(required: "verified_at"), orderId: try r.text(required: "order_id"))
    }
}

extension ParkedDecision {
    init(row r: SQLRow, cipher: FieldCipher) throws {
        let orderId = try r.text(required: "order_id")
        self.init(id: try r.int64(required: "id"), orderId: orderId,
                  decision: try cipher.openJSON(try r.text(required: "decision"), context: SealedPlace.parkedDecision(orderId: orderId)),
                  receivedAt: try r.date(required: "received_at"))
    }
}

extension StoredWebhook {
    static let columns = "provider, event_id, kind, order_id, payload, received_at"

    init(row r: SQLRow, cipher: FieldCipher) throws {
        let source = try r.enum(WebhookSource.self, "provider"), eventId = try r.text(required: "event_id")
        self.init(source: source, eventId: eventId, kind: try r.text(required: "kind"), orderId: try r.text("order_id"),
                  payload: try cipher.openJSON(try r.text(required: "payload"),
                                               context: SealedPlace.webhook(provider: source.rawValue, eventId: eventId)),
                  receivedAt: try r.date(required: "received_at"))
    }
}

extension UserRecord {
    init(row r: SQLRow) throws {
        self.init(name: try r.text(required: "name"), passwordHash: try r.text(required: "password_hash"),
                  role: try r.enum(UserRole.self, "role"), disabledAt: try r.date("disabled_at"),
                  createdAt: try r.date(required: "created_at"))
    }
}
