import Foundation
import Synchronization
import Testing
import VigilCore
import VigilFlow
import VigilProviders
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

@Suite("Verification flow, end to end on SQLite with a manual clock")
struct FlowTests {
    @Test("72 hours in milliseconds: link, reminder at 24h, expiry at 72h refunds exactly once", arguments: Backend.allCases)
    func expiry(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            guard case .created(let session) = try await h.flow.receiveOrder(h.order("A1"), payload: "{}") else {
                Issue.record("expected a new session")
                return
            }
            #expect(session.deadline == h.clock.now().addingTimeInterval(72 * 3600))
            try await h.drain()
            let opened = try #require(try await store.session(orderId: "A1"))
            #expect(opened.verificationURL != nil && opened.verificationId != nil)
            #expect(try await h.emails("A1") == ["verification_link"])

            try await h.advance(by: 24 * 3600 - 1)
            #expect(try await h.emails("A1") == ["verification_link"], "no reminder before 24h")
            try await h.advance(by: 1)
            #expect(try await h.emails("A1") == ["verification_link", "reminder"])

            try await h.advance(by: 48 * 3600 - 1)
            #expect(try await store.session(orderId: "A1")?.state == .pending)
            try await h.advance(by: 1)
            let expired = try #require(try await store.session(orderId: "A1"))
            #expect(expired.state == .expired)
            #expect(expired.refundStatus == .refunded)
            let outbox = try await h.outbox("A1")
            #expect(outbox.filter { $0.operation == .refund }.count == 1)
            #expect(outbox.filter { $0.operation == .updateOrder }.count == 2, "held, then cancelled")
            #expect(try await h.emails("A1") == ["verification_link", "reminder", "expired"])
            let timeline = try await store.eventLog(orderId: "A1").map(\.type)
            #expect(timeline.contains("session.expired") && timeline.contains("refund.completed"))

            try await h.advance(by: 30 * 24 * 3600)
            #expect(try await h.outbox("A1").count == outbox.count, "nothing more happens after the outcome")
            #expect(try await store.tasks(orderId: "A1").allSatisfy { !$0.state.isActive })
        }
    }

    @Test("approved: timers cancelled, order released, confirmation sent; the deadline never fires", arguments: Backend.allCases)
    func approved(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("A2"), payload: "{}")
            try await h.drain()
            try await h.advance(by: 3600)
            #expect(try await h.flow.receiveDecision(h.decision("A2", .approved))
                    == .applied(state: .approved, event: "session.approved"))
            try await h.drain()
            let tasks = try await store.tasks(orderId: "A2")
            #expect(tasks.first { $0.kind == "reminder" }?.state == .cancelled)
            #expect(tasks.first { $0.kind == "deadline" }?.state == .cancelled)
            try await h.advance(by: 100 * 3600)
            let s = try #require(try await store.session(orderId: "A2"))
            #expect(s.state == .approved && s.refundStatus == .none)
            let outbox = try await h.outbox("A2")
            #expect(outbox.filter { $0.operation == .refund }.isEmpty)
            #expect(outbox.filter { $0.operation == .updateOrder }.count == 2, "held, then released")
            #expect(try await h.emails("A2") == ["verification_link", "approved"])
        }
    }

    @Test("declined: refund, email and annotation, each once", arguments: Backend.allCases)
    func declined(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("A3", total: 129.99), payload: "{}")
            try await h.drain()
            _ = try await h.flow.receiveDecision(h.decision("A3", .declined))
            try await h.drain()
            let s = try #require(try await store.session(orderId: "A3"))
            #expect(s.state == .declined && s.refundStatus == .refunded)
            let refunds = try await h.outbox("A3").filter { $0.operation == .refund }
            #expect(refunds.count == 1)
            let request = try JSONCoding.decode(RefundRequest.self, from: refunds[0].request)
            #expect(request.amount == Decimal(string: "129.99") && request.paymentId == "ch_1" && request.reason == "declined")
            #expect(try await h.emails("A3") == ["verification_link", "declined"])
        }
    }

    @Test("resubmission requested: still pending, link sent again, deadline unchanged", arguments: Backend.allCases)
    func resubmission(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("A4"), payload: "{}")
            try await h.drain()
            let deadline = try #require(try await store.session(orderId: "A4")?.deadline)
            _ = try await h.flow.receiveDecision(h.decision("A4", .resubmissionRequested, id: "e1"))
            _ = try await h.flow.receiveDecision(h.decision("A4", .resubmissionRequested, id: "e2"))
            try await h.drain()
            let s = try #require(try await store.session(orderId: "A4"))
            #expect(s.state == .pending && s.deadline == deadline)
            #expect(try await h.emails("A4") == ["verification_link", "resubmission", "resubmission"])
            try await h.advance(by: 72 * 3600)
            #expect(try await store.session(orderId: "A4")?.state == .expired)
        }
    }

    @Test("late and contradicting decisions never undo an outcome; they go on the timeline and to review", arguments: Backend.allCases)
    func lateEvents(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("A5"), payload: "{}")
            try await h.drain()
            try await h.advance(by: 72 * 3600)
            #expect(try await store.session(orderId: "A5")?.state == .expired)
            let late = try await h.flow.receiveDecision(h.decision("A5", .approved))
            #expect(late == .applied(state: .expired, event: "decision.late"))
            try await h.drain()
            let s = try #require(try await store.session(orderId: "A5"))
            #expect(s.state == .expired && s.refundStatus == .refunded)
            #expect(try await h.outbox("A5").filter { $0.operation == .updateOrder }.count == 2, "held and cancelled; no release after expiry")
            #expect(try await store.reviews(limit: 10).contains { $0.orderId == "A5" && $0.reason.contains("approved") })
            #expect(try await store.eventLog(orderId: "A5").map(\.type).contains("decision.late"))

            _ = try await h.flow.receiveOrder(h.order("A6"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("A6", .approved))
            _ = try await h.flow.receiveDecision(h.decision("A6", .declined))
            try await h.drain()
            #expect(try await store.session(orderId: "A6")?.state == .approved)
            #expect(try await h.outbox("A6").filter { $0.operation == .refund }.isEmpty)
        }
    }

    @Test("duplicate deliveries are recorded once; decisions for unknown orders are kept for review", arguments: Backend.allCases)
    func duplicatesAndOrphans(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("A7"), payload: "{}")
            #expect(try await h.flow.receiveOrder(h.order("A7"), payload: "{}") == .duplicate)
            let d = h.decision("A7", .declined)
            _ = try await h.flow.receiveDecision(d)
            #expect(try await h.flow.receiveDecision(d) == .duplicate)
            #expect(try await store.tasks(orderId: "A7").filter { $0.kind == "refund" }.count == 1)

            // A decision for an order Vigil does not have yet is kept until the order arrives.
            #expect(try await h.flow.receiveDecision(h.decision("ghost", .approved)) == .unknownOrder)
            #expect(try await store.eventLog(orderId: "ghost").map(\.type) == ["decision.unknown_order"])
            // One that names no order at all goes to a person.
            let orphan = DecisionEvent(eventId: "evt_orphan", orderId: nil, verificationId: "v-unknown", decision: .approved)
            #expect(try await h.flow.receiveDecision(orphan) == .unknownOrder)
            #expect(try await store.reviews(limit: 10).contains { $0.eventId == "evt_orphan" })

            // A cancellation of an order already decided changes nothing.
            let cancel = OrderEvent(event: "order.cancelled", orderId: "A7", customerEmail: "a@b.c", orderTotal: 1)
            guard case .applied(let after, let event) = try await h.flow.receiveOrder(cancel, payload: "{}") else {
                Issue.record("expected the cancellation to be applied")
                return
            }
            #expect(after.state == .declined && event == "order.cancelled_after_outcome")
        }
    }

    @Test("a refund retried after the gateway call succeeded records one refund under one key", arguments: Backend.allCases)
    func refundRetryIsIdempotent(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock()
            let sandbox = SandboxProviders().providers
            // The gateway takes the refund, then the connection drops before we hear back, twice.
            let flaky = FlakyAfterCall(inner: sandbox.payments, failures: 2)
            let providers = Providers(identity: sandbox.identity, email: sandbox.email, payments: flaky, shop: sandbox.shop)
            let h = Harness(store: store, clock: clock, providers: providers)
            _ = try await h.flow.receiveOrder(h.order("A8"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("A8", .declined))
            try await h.drain()
            #expect(try await store.session(orderId: "A8")?.refundStatus == .refundPending)
            try await h.advance(by: 3600)
            try await h.advance(by: 3600)
            #expect(flaky.calls == 3)
            #expect(Set(flaky.keys).count == 1, "every attempt carries the same idempotency key")
            let refunds = try await h.outbox("A8").filter { $0.operation == .refund }
            #expect(refunds.count == 1)
            #expect(refunds.first?.idempotencyKey == flaky.keys.first)
            let s = try #require(try await store.session(orderId: "A8"))
            #expect(s.refundStatus == .refunded)
            let refundTask = try #require(try await store.tasks(orderId: "A8").first { $0.kind == "refund" })
            #expect(refundTask.attempts == 3 && refundTask.state == .succeeded)
            #expect(try await store.eventLog(orderId: "A8").filter { $0.type == "task.failed" }.count == 2)
        }
    }

    @Test("a refund that never succeeds dead-letters as refund_failed and goes to review", arguments: Backend.allCases)
    func refundFails(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let clock = ManualClock()
            let sandbox = SandboxProviders().providers
            let broken = FlakyAfterCall(inner: nil, failures: .max)
            let providers = Providers(identity: sandbox.identity, email: sandbox.email, payments: broken, shop: sandbox.shop)
            let queues = FlowQueues.defaults().map { q -> QueueConfig in
                var q = q
                if q.name == FlowQueues.refunds { q.maxAttempts = 2; q.maxRetryDuration = 0; q.jitter = 0 }
                return q
            }
            let h = Harness(store: store, clock: clock, providers: providers, queues: queues)
            _ = try await h.flow.receiveOrder(h.order("A9"), payload: "{}")
            try await h.advance(by: 72 * 3600)
            try await h.advance(by: 3600)
            let s = try #require(try await store.session(orderId: "A9"))
            #expect(s.state == .expired && s.refundStatus == .refundFailed)
            #expect(try await store.tasks(orderId: "A9").first { $0.kind == "refund" }?.state == .dead)
            #expect(try await store.reviews(limit: 10).contains { $0.orderId == "A9" && $0.reason.hasPrefix("refund failed") })
        }
    }
}

/// Wraps a gateway: forwards the call (so the side effect happens), then reports a failure,
/// as a dropped connection after the gateway acted would.
final class FlakyAfterCall: PaymentGateway, Sendable {
    let inner: (any PaymentGateway)?
    private let state: Mutex<(left: Int, calls: Int, keys: [String])>

    init(inner: (any PaymentGateway)?, failures: Int) {
        self.inner = inner
        state = Mutex((failures, 0, []))
    }

    var calls: Int { state.withLock { $0.calls } }
    var keys: [String] { state.withLock { $0.keys } }

    func refund(_ request: RefundRequest, call: ProviderCall) async throws -> ProviderReply<RefundResult> {
        let fail = state.withLock { s -> Bool in
            s.calls += 1
            s.keys.append(call.idempotencyKey)
            if s.left > 0 { s.left -= 1; return true }
            return false
        }
        let result = try await inner?.refund(request, call: call)
        guard !fail, let result else { throw TestFailure(description: "connection reset after the request was sent") }
        return result
    }

    func check() async -> ProviderCheck { .ok }
}
