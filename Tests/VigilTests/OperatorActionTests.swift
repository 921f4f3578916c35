import Foundation
import Testing
import VigilCore
import VigilFlow
import VigilProviders
import VigilQueue
import VigilStore

/// Staff actions on an order: each a transition of the same state machine, in one transaction,
/// refused whole when the order's state does not allow it.
@Suite("Operator actions")
struct OperatorActionTests {
    func shopCalls(_ h: Harness, _ orderId: String) async throws -> [String] {
        try await h.outbox(orderId).filter { $0.operation == .updateOrder }.map { entry in
            (try? JSONCoding.decode(OrderUpdate.self, from: entry.request).action.rawValue) ?? "?"
        }
    }

    @Test("approve by hand: released, timers cancelled, approval email; the deadline never fires", arguments: Backend.allCases)
    func approve(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("OP1"), payload: "{}")
            try await h.drain()
            let s = try await h.flow.act(.approve, orderId: "OP1", actor: "user:ada")
            #expect(s.state == .approved && s.outcomeReason == .approvedByOperator)
            try await h.advance(by: 80 * 3600)
            let final = try #require(try await store.session(orderId: "OP1"))
            #expect(final.state == .approved && final.refundStatus == .none)
            #expect(try await h.emails("OP1") == ["verification_link", "approved"])
            #expect(try await shopCalls(h, "OP1") == ["hold", "release"])
            let events = try await store.eventLog(orderId: "OP1")
            let approved = try #require(events.first { $0.type == "session.approved" })
            #expect(approved.data.contains("user:ada"), "the timeline names who acted: \(approved.data)")
        }
    }

    @Test("decline by hand: refund, email and cancellation at the shop, each once", arguments: Backend.allCases)
    func decline(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("OP2", total: 42.5), payload: "{}")
            try await h.drain()
            _ = try await h.flow.act(.decline, orderId: "OP2", actor: "user:ada")
            try await h.drain()
            let s = try #require(try await store.session(orderId: "OP2"))
            #expect(s.state == .declined && s.outcomeReason == .declinedByOperator && s.refundStatus == .refunded)
            #expect(try await h.outbox("OP2").filter { $0.operation == .refund }.count == 1)
            #expect(try await h.emails("OP2") == ["verification_link", "declined"])
            #expect(try await shopCalls(h, "OP2") == ["hold", "cancel"])
        }
    }

    @Test("resend sends the link again each time; extend moves the deadline and its timer; cancel stops all without refund",
          arguments: Backend.allCases)
    func resendExtendCancel(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("OP3"), payload: "{}")
            try await h.drain()
            _ = try await h.flow.act(.resend, orderId: "OP3", actor: "user:ada")
            try await h.drain()
            h.clock.advance(by: 1)
            _ = try await h.flow.act(.resend, orderId: "OP3", actor: "user:ada")
            try await h.drain()
            #expect(try await h.emails("OP3") == ["verification_link", "verification_link", "verification_link"])

            let before = try #require(try await store.session(orderId: "OP3")).deadline
            let later = before.addingTimeInterval(48 * 3600)
            let moved = try await h.flow.act(.extend(to: later), orderId: "OP3", actor: "user:ada")
            #expect(moved.deadline == later)
            // Past the old deadline: still pending. Past the new one: expired and refunded.
            try await h.advance(by: 73 * 3600)
            #expect(try await store.session(orderId: "OP3")?.state == .pending)
            try await h.advance(by: 48 * 3600)
            #expect(try await store.session(orderId: "OP3")?.state == .expired)

            _ = try await h.flow.receiveOrder(h.order("OP4"), payload: "{}")
            try await h.drain()
            let cancelled = try await h.flow.act(.cancel, orderId: "OP4", actor: "user:ada")
            #expect(cancelled.state == .cancelled && cancelled.outcomeReason == .orderCancelled)
            try await h.advance(by: 80 * 3600)
            let s = try #require(try await store.session(orderId: "OP4"))
            #expect(s.state == .cancelled && s.refundStatus == .none)
            #expect(try await h.outbox("OP4").filter { $0.operation == .refund }.isEmpty)
        }
    }

    @Test("an action the state does not allow is refused whole: nothing written, nothing scheduled", arguments: Backend.allCases)
    func refused(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("OP5"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("OP5", .approved))
            try await h.drain()
            let events = try await store.eventLog(orderId: "OP5").count
            let tasks = try await store.tasks(orderId: "OP5").count
            for action in [OperatorAction.approve, .decline, .resend, .cancel, .extend(to: h.clock.now().addingTimeInterval(3600))] {
                await #expect(throws: ActionRefused.self) { try await h.flow.act(action, orderId: "OP5", actor: "user:ada") }
            }
            #expect(try await store.eventLog(orderId: "OP5").count == events)
            #expect(try await store.tasks(orderId: "OP5").count == tasks)
            #expect(try await store.session(orderId: "OP5")?.state == .approved)
            await #expect(throws: ActionRefused.self) { try await h.flow.act(.approve, orderId: "nope", actor: "user:ada") }

            _ = try await h.flow.receiveOrder(h.order("OP6"), payload: "{}")
            let deadline = try #require(try await store.session(orderId: "OP6")).deadline
            for bad in [deadline.addingTimeInterval(-60), h.clock.now().addingTimeInterval(-60),
                        h.clock.now().addingTimeInterval(SessionMachine.maximumExtension + 60)] {
                await #expect(throws: ActionRefused.self) { try await h.flow.act(.extend(to: bad), orderId: "OP6", actor: "user:ada") }
            }
            #expect(try await store.session(orderId: "OP6")?.deadline == deadline)
        }
    }

    @Test("a provider session that lapses is opened afresh once per lapse, with no second email; the link stays Vigil's page",
          arguments: Backend.allCases)
    func reopen(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("OP7"), payload: "{}")
            try await h.drain()
            let first = try #require(try await store.session(orderId: "OP7"))
            _ = try await h.flow.receiveDecision(h.decision("OP7", .expired, id: "lapse-1"))
            #expect(try await store.session(orderId: "OP7")?.verificationURL == nil, "the lapsed link is not offered")
            try await h.drain()
            _ = try await h.flow.receiveDecision(h.decision("OP7", .expired, id: "lapse-1"))  // the same delivery again
            try await h.drain()
            let sessions = try await h.outbox("OP7").filter { $0.operation == .createSession }
            #expect(sessions.count == 2)
            let reopened = try #require(try await store.session(orderId: "OP7"))
            #expect(reopened.verificationURL != nil && reopened.verificationURL != first.verificationURL)
            #expect(try await h.emails("OP7") == ["verification_link"])
            let link = try #require(try await h.outbox("OP7").first { $0.operation == .sendEmail })
            let message = try JSONCoding.decode(EmailMessage.self, from: link.request)
            #expect(message.verificationURL == h.flow.settings.pageURL(first), "emails link to Vigil's page, not the provider")
        }
    }

    @Test("a hold that has not run when the order is decided is skipped, and the release waits for it", arguments: Backend.allCases)
    func holdAfterDecision(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("OP8"), payload: "{}")
            // Decided before any task ran: the hold must not follow the release.
            _ = try await h.flow.receiveDecision(h.decision("OP8", .approved))
            try await h.drain()
            try await h.advance(by: 3600)
            #expect(try await shopCalls(h, "OP8") == ["release"])
            #expect(try await store.eventLog(orderId: "OP8").contains { $0.type == "order.hold_skipped" })
        }
    }
}
