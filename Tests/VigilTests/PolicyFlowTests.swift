import Foundation
import Testing
import VigilCore
import VigilFlow
import VigilProviders
import VigilStore

/// The age policy applied by the flow, on both backends: Vigil, not the ID provider, decides.
@Suite("Age policy in the flow")
struct PolicyFlowTests {
    static let policy = AgePolicy(minimumAge: 21, regions: [
        .init(region: Region(code: "CA")!, minimumAge: 19),
        .init(region: Region(code: "US-UT")!, blocked: true),
    ])

    static func born(yearsAgo years: Int, from now: Date, plusDays days: Int = 0) -> LocalDate? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = calendar.date(byAdding: DateComponents(year: -years, day: days), to: now)!
        return LocalDate(date, in: calendar.timeZone)
    }

    func order(_ h: Harness, _ id: String, region: String? = nil, email: String? = nil, items: [LineItem] = [],
               total: Decimal = 50) -> OrderEvent {
        OrderEvent(event: "order.created", orderId: id, customerEmail: email ?? "\(id)@example.com", orderTotal: total,
                   currency: "USD", customerName: "Ada", paymentId: "ch_\(id)", lineItems: items,
                   region: region.flatMap { Region(code: $0) })
    }

    func updateActions(_ h: Harness, _ orderId: String) async throws -> [OrderAction] {
        try await h.outbox(orderId).filter { $0.operation == .updateOrder }.map {
            try JSONCoding.decode(OrderUpdate.self, from: $0.request).action
        }
    }

    @Test("verified but a day short of 21: declined as underage, refunded, cancelled at the shop; the birth date is not kept",
          arguments: Backend.allCases)
    func underage(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "U1"), payload: "{}")
            try await h.drain()
            let dob = Self.born(yearsAgo: 21, from: h.clock.now(), plusDays: 1)
            #expect(try await h.flow.receiveDecision(h.decision("U1", .approved, dateOfBirth: dob))
                    == .applied(state: .declined, event: "session.declined"))
            try await h.drain()
            let s = try #require(try await store.session(orderId: "U1"))
            #expect(s.state == .declined && s.outcomeReason == .underage && s.ofAge == false && s.minimumAge == 21)
            #expect(s.refundStatus == .refunded)
            #expect(try await updateActions(h, "U1") == [.hold, .cancel])
            #expect(try await h.emails("U1") == ["verification_link", "declined"])
            let timeline = try await store.eventLog(orderId: "U1")
            #expect(!timeline.contains { $0.data.contains(dob?.description ?? "?") }, "no date of birth on the timeline")

            // Exactly 21 today is of age.
            _ = try await h.flow.receiveOrder(order(h, "U2"), payload: "{}")
            let birthday = Self.born(yearsAgo: 21, from: h.clock.now())
            #expect(try await h.flow.receiveDecision(h.decision("U2", .approved, dateOfBirth: birthday))
                    == .applied(state: .approved, event: "session.approved"))
        }
    }

    @Test("the region's minimum applies: 19 is of age in Canada and not in the US", arguments: Backend.allCases)
    func regionalMinimum(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            let nineteen = Self.born(yearsAgo: 19, from: h.clock.now())
            _ = try await h.flow.receiveOrder(order(h, "R1", region: "CA-ON"), payload: "{}")
            _ = try await h.flow.receiveOrder(order(h, "R2", region: "US-NY"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("R1", .approved, dateOfBirth: nineteen))
            _ = try await h.flow.receiveDecision(h.decision("R2", .approved, dateOfBirth: nineteen))
            try await h.drain()
            let ca = try #require(try await store.session(orderId: "R1"))
            #expect(ca.state == .approved && ca.minimumAge == 19 && ca.ageRule == "CA" && ca.region == "CA-ON")
            let us = try #require(try await store.session(orderId: "R2"))
            #expect(us.state == .declined && us.outcomeReason == .underage && us.minimumAge == 21 && us.ageRule == "default")
        }
    }

    @Test("an order to a blocked region is declined and refunded before any check: no session at the provider, no link",
          arguments: Backend.allCases)
    func blockedRegion(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            guard case .created(let s) = try await h.flow.receiveOrder(order(h, "B1", region: "US-UT"), payload: "{}") else {
                Issue.record("expected a new session")
                return
            }
            #expect(s.state == .declined && s.outcomeReason == .regionBlocked)
            try await h.drain()
            let outbox = try await h.outbox("B1")
            #expect(!outbox.contains { $0.operation == .createSession })
            #expect(try await h.emails("B1") == ["declined"])
            #expect(try await updateActions(h, "B1") == [.cancel])
            #expect(try await store.session(orderId: "B1")?.refundStatus == .refunded)
            try await h.advance(by: 80 * 3600)
            #expect(try await h.outbox("B1").count == outbox.count, "no timers were set")
        }
    }

    @Test("an order no rule asks about is not_required: released at once, nothing sent, nothing held", arguments: Backend.allCases)
    func notRequired(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            var policy = Self.policy
            policy.verification.skus = ["WHISKY-12"]
            let h = Harness(store: store, policy: policy)
            guard case .created(let tea) = try await h.flow.receiveOrder(
                order(h, "N1", items: [LineItem(sku: "TEA-1")]), payload: "{}") else {
                Issue.record("expected a new session")
                return
            }
            #expect(tea.state == .notRequired && tea.outcomeReason == .notRequired && tea.state.isFinal)
            try await h.advance(by: 80 * 3600)
            #expect(try await h.outbox("N1").isEmpty)
            #expect(try await store.tasks(orderId: "N1").isEmpty)
            #expect(try await store.eventLog(orderId: "N1").map(\.type) == ["order.received", "session.not_required"])

            _ = try await h.flow.receiveOrder(order(h, "N2", items: [LineItem(sku: "TEA-1"), LineItem(sku: "WHISKY-12")]),
                                              payload: "{}")
            #expect(try await store.session(orderId: "N2")?.state == .pending)
        }
    }

    @Test("a returning customer verified of age is released without a new check until revoked", arguments: Backend.allCases)
    func returningCustomer(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "C1", email: "Ada@Example.com"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("C1", .approved))
            try await h.drain()
            try await h.advance(by: 30 * 86_400)

            guard case .created(let again) = try await h.flow.receiveOrder(order(h, "C2", email: " ada@example.COM "),
                                                                          payload: "{}") else {
                Issue.record("expected a new session")
                return
            }
            #expect(again.state == .approved && again.outcomeReason == .returningCustomer)
            try await h.drain()
            #expect(try await h.outbox("C2").isEmpty, "no provider session, no hold, no email")

            // A Canadian rule of 19 does not carry over to a stricter one: a customer remembered at
            // 21 passes a 19 rule, never the other way round.
            _ = try await h.flow.receiveOrder(order(h, "C3", region: "CA", email: "ada@example.com"), payload: "{}")
            #expect(try await store.session(orderId: "C3")?.outcomeReason == .returningCustomer)

            let keys = h.config.customerKeys.keys(customerId: nil, email: "ada@example.com")
            #expect(try await store.revokeVerifiedCustomer(keys: keys, at: h.clock.now()) >= 1)
            _ = try await h.flow.receiveOrder(order(h, "C4", email: "ada@example.com"), payload: "{}")
            #expect(try await store.session(orderId: "C4")?.state == .pending)
        }
    }

    @Test("a customer verified at 19 in Canada is checked again for a US order; memory lapses after its period",
          arguments: Backend.allCases)
    func rememberedOnlyForItsRule(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            var policy = Self.policy
            policy.rememberFor = 10 * 86_400
            let h = Harness(store: store, policy: policy)
            _ = try await h.flow.receiveOrder(order(h, "M1", region: "CA", email: "bo@example.com"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("M1", .approved))
            _ = try await h.flow.receiveOrder(order(h, "M2", region: "US", email: "bo@example.com"), payload: "{}")
            #expect(try await store.session(orderId: "M2")?.state == .pending)
            _ = try await h.flow.receiveOrder(order(h, "M3", region: "CA", email: "bo@example.com"), payload: "{}")
            #expect(try await store.session(orderId: "M3")?.outcomeReason == .returningCustomer)
            h.clock.advance(by: 10 * 86_400 + 1)
            _ = try await h.flow.receiveOrder(order(h, "M4", region: "CA", email: "bo@example.com"), payload: "{}")
            #expect(try await store.session(orderId: "M4")?.state == .pending)
        }
    }

    @Test("an order cancelled at the shop stops its timers: no expiry, no refund, no more email", arguments: Backend.allCases)
    func cancelledAtShop(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "X1"), payload: "{}")
            try await h.drain()
            let cancel = OrderEvent(event: "order.cancelled", orderId: "X1", customerEmail: "X1@example.com", orderTotal: 50)
            guard case .applied(let s, let event) = try await h.flow.receiveOrder(cancel, payload: "{}") else {
                Issue.record("expected the cancellation to apply")
                return
            }
            #expect(s.state == .cancelled && s.outcomeReason == .orderCancelled && event == "session.cancelled")
            try await h.advance(by: 80 * 3600)
            let after = try #require(try await store.session(orderId: "X1"))
            #expect(after.state == .cancelled && after.refundStatus == .none)
            #expect(try await h.emails("X1") == ["verification_link"])
            #expect(try await h.outbox("X1").filter { $0.operation == .refund }.isEmpty)
            #expect(try await store.tasks(orderId: "X1").allSatisfy { !$0.state.isActive })
            // A late approval does not reopen it.
            _ = try await h.flow.receiveDecision(h.decision("X1", .approved))
            #expect(try await store.session(orderId: "X1")?.state == .cancelled)
        }
    }

    @Test("under review at the provider holds the deadline: no reminder, no expiry, a person is asked", arguments: Backend.allCases)
    func reviewHoldsDeadline(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "V1"), payload: "{}")
            try await h.drain()
            #expect(try await h.flow.receiveDecision(h.decision("V1", .review))
                    == .applied(state: .pending, event: "session.under_review"))
            try await h.advance(by: 80 * 3600)
            let s = try #require(try await store.session(orderId: "V1"))
            #expect(s.state == .pending && s.reviewReason != nil && s.refundStatus == .none)
            #expect(try await h.emails("V1") == ["verification_link"])
            #expect(try await store.reviews(limit: 10).contains { $0.orderId == "V1" && $0.reason.contains("deadline") })
            // The provider's final word still decides.
            _ = try await h.flow.receiveDecision(h.decision("V1", .approved))
            let decided = try #require(try await store.session(orderId: "V1"))
            #expect(decided.state == .approved && decided.reviewReason == nil)
        }
    }

    @Test("an approval without a date of birth is not an approval of age: a person decides", arguments: Backend.allCases)
    func missingDateOfBirth(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "D1"), payload: "{}")
            #expect(try await h.flow.receiveDecision(h.decision("D1", .approved, dateOfBirth: nil))
                    == .applied(state: .pending, event: "session.needs_review"))
            #expect(try await store.reviews(limit: 10).contains { $0.orderId == "D1" })
            try await h.advance(by: 80 * 3600)
            #expect(try await store.session(orderId: "D1")?.state == .pending, "the deadline waits for the person")
        }
    }

    @Test("an expired identity document declines, whatever the age", arguments: Backend.allCases)
    func expiredDocument(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "E1"), payload: "{}")
            let decision = DecisionEvent(eventId: "evt_e1", orderId: "E1", verificationId: nil, decision: .approved,
                                         dateOfBirth: LocalDate(year: 1970, month: 1, day: 1),
                                         documentValidUntil: LocalDate(h.clock.now().addingTimeInterval(-86_400), in: PolicyTests.utc),
                                         decidedAt: h.clock.now())
            #expect(try await h.flow.receiveDecision(decision) == .applied(state: .declined, event: "session.declined"))
            #expect(try await store.session(orderId: "E1")?.outcomeReason == .documentExpired)
        }
    }

    @Test("a status Vigil does not act on is recorded and changes nothing", arguments: Backend.allCases)
    func unknownStatus(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "S1"), payload: "{}")
            let odd = DecisionEvent(eventId: "evt_s1", orderId: "S1", verificationId: nil, decision: nil, status: "inflight")
            #expect(try await h.flow.receiveDecision(odd) == .applied(state: .pending, event: "decision.status_recorded"))
            #expect(try await store.eventLog(orderId: "S1").map(\.type).contains("decision.status_recorded"))
        }
    }

    @Test("a decision that arrives before its order is kept and applied when the order comes", arguments: Backend.allCases)
    func parkedDecision(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            let early = Self.born(yearsAgo: 18, from: h.clock.now())
            #expect(try await h.flow.receiveDecision(h.decision("P1", .approved, dateOfBirth: early)) == .unknownOrder)
            guard case .created(let s) = try await h.flow.receiveOrder(order(h, "P1"), payload: "{}") else {
                Issue.record("expected a new session")
                return
            }
            #expect(s.state == .declined && s.outcomeReason == .underage, "judged by the policy when the order arrived")
            let stored = try await store.eventLog(orderId: "P1")
            #expect(!stored.contains { $0.data.contains(early?.description ?? "?") })
            // Applied once: a second order event does not replay it.
            _ = try await h.flow.receiveOrder(order(h, "P2"), payload: "{}")
            #expect(try await store.session(orderId: "P2")?.state == .pending)
        }
    }

    @Test("a changed email address reaches the pending session: the reminder goes to the new one", arguments: Backend.allCases)
    func emailChanged(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy)
            _ = try await h.flow.receiveOrder(order(h, "W1", email: "old@example.com"), payload: "{}")
            try await h.drain()
            let update = OrderEvent(event: "order.updated", orderId: "W1", customerEmail: "new@example.com", orderTotal: 50,
                                    eventId: "upd-1")
            guard case .applied(let s, _) = try await h.flow.receiveOrder(update, payload: "{}") else {
                Issue.record("expected the update to apply")
                return
            }
            #expect(s.customerEmail == "new@example.com")
            try await h.advance(by: 24 * 3600)
            let sent = try await h.outbox("W1").filter { $0.operation == .sendEmail }.map {
                try JSONCoding.decode(EmailMessage.self, from: $0.request)
            }
            #expect(sent.map(\.kind) == [.verificationLink, .reminder])
            #expect(sent.map(\.to) == ["old@example.com", "new@example.com"])
        }
    }

    @Test("holding orders can be turned off: no hold, and no release on approval", arguments: Backend.allCases)
    func noHold(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store, policy: Self.policy, holdOrders: false)
            _ = try await h.flow.receiveOrder(order(h, "H1"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("H1", .approved))
            try await h.drain()
            #expect(try await updateActions(h, "H1").isEmpty)
        }
    }
}
