import Testing
import VigilCore

@Suite("Session state machine")
struct SessionMachineTests {
    @Test("pending + approved → approved: cancel timers, release, confirmation email")
    func approve() {
        let t = SessionMachine.apply(.decision(.approved), to: .pending, refundStatus: .none)
        #expect(t.state == .approved)
        #expect(t.refundStatus == .none)
        #expect(t.effects == [.cancelTimers, .releaseOrder, .sendEmail(.approved)])
    }

    @Test("pending + declined → declined: refund, email, annotate")
    func decline() {
        let t = SessionMachine.apply(.decision(.declined), to: .pending, refundStatus: .none)
        #expect(t.state == .declined)
        #expect(t.refundStatus == .refundPending)
        #expect(t.effects == [.cancelTimers, .refund(reason: "declined"), .sendEmail(.declined), .annotateOrder(reason: "declined")])
    }

    @Test("resubmission keeps the session pending and resends the link; the deadline stays")
    func resubmission() {
        let t = SessionMachine.apply(.decision(.resubmissionRequested), to: .pending, refundStatus: .none)
        #expect(t.state == .pending)
        #expect(t.effects == [.sendEmail(.resubmission)])
        #expect(!t.effects.contains(.cancelTimers))
    }

    @Test("provider-side expiry or abandonment is recorded; our deadline still governs",
          arguments: [VerificationDecision.expired, .abandoned])
    func providerLapse(_ decision: VerificationDecision) {
        let t = SessionMachine.apply(.decision(decision), to: .pending, refundStatus: .none)
        #expect(t.state == .pending)
        #expect(t.effects.isEmpty)
        #expect(t.event == "session.provider_\(decision.rawValue)")
    }

    @Test("deadline while pending → expired: refund, email, annotate")
    func deadline() {
        let t = SessionMachine.apply(.deadlineReached, to: .pending, refundStatus: .none)
        #expect(t.state == .expired)
        #expect(t.refundStatus == .refundPending)
        #expect(t.effects == [.cancelReminder, .refund(reason: "expired"), .sendEmail(.expired), .annotateOrder(reason: "expired")])
    }

    @Test("reminder while pending sends the reminder email")
    func reminder() {
        let t = SessionMachine.apply(.reminderDue, to: .pending, refundStatus: .none)
        #expect(t.state == .pending)
        #expect(t.effects == [.sendEmail(.reminder)])
    }

    @Test("timers after a final outcome do nothing", arguments: [SessionState.approved, .declined, .expired])
    func leftoverTimers(_ state: SessionState) {
        for input in [SessionInput.deadlineReached, .reminderDue] {
            let t = SessionMachine.apply(input, to: state, refundStatus: .refunded)
            #expect(t.state == state)
            #expect(t.refundStatus == .refunded)
            #expect(t.effects.isEmpty)
            #expect(t.event == "timer.ignored")
        }
    }

    @Test("a final outcome is never undone; contradicting decisions go to review",
          arguments: [SessionState.approved, .declined, .expired])
    func lateDecisions(_ state: SessionState) {
        for decision in VerificationDecision.allCases {
            let t = SessionMachine.apply(.decision(decision), to: state, refundStatus: .refunded)
            #expect(t.state == state, "\(decision) must not change a \(state) session")
            #expect(t.refundStatus == .refunded)
            #expect(!t.effects.contains(where: {
                if case .refund = $0 { return true }
                return $0 == .releaseOrder || $0 == .cancelTimers
            }))
            if decision.rawValue == state.rawValue {
                #expect(t.event == "decision.repeated")
                #expect(t.effects.isEmpty)
            } else {
                #expect(t.event == "decision.late")
                #expect(t.effects.count == 1)
                if case .flagForReview(let reason)? = t.effects.first {
                    #expect(reason.contains(decision.rawValue))
                } else {
                    Issue.record("expected a review flag, got \(t.effects)")
                }
            }
        }
    }
}
