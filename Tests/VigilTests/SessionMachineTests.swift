import Foundation
import Testing
import VigilCore

@Suite("Session state machine")
struct SessionMachineTests {
    static let pending = SessionSnapshot(state: .pending, refundStatus: .none)
    static func apply(_ input: SessionInput, _ snapshot: SessionSnapshot = pending) -> SessionTransition {
        SessionMachine.apply(input, to: snapshot)
    }

    @Test("approved and of age → approved: timers cancelled, order released, confirmation, customer remembered")
    func approved() {
        let t = Self.apply(.approved(.ofAge))
        #expect(t.state == .approved && t.reason == .verified)
        #expect(t.effects == [.cancelTimers, .releaseOrder, .sendEmail(.approved), .rememberCustomer])
        #expect(t.event == "session.approved")
    }

    @Test("approved but under age, or with an expired document, is a decline like any other: refund, email, order cancelled",
          arguments: [(AgeVerdict.underage, OutcomeReason.underage), (.documentExpired, .documentExpired)])
    func approvedButRefused(_ verdict: AgeVerdict, _ reason: OutcomeReason) {
        let t = Self.apply(.approved(verdict))
        #expect(t.state == .declined && t.reason == reason && t.refundStatus == .refundPending)
        #expect(t.effects == [.cancelTimers, .refund(reason: reason), .sendEmail(.declined), .cancelOrder(reason: reason)])
    }

    @Test("approved without a date of birth goes to a person, not to approval, and holds the deadline")
    func approvedWithoutBirthDate() {
        let t = Self.apply(.approved(.missingDateOfBirth))
        #expect(t.state == .pending)
        #expect(t.effects.contains(where: { if case .awaitReview = $0 { true } else { false } }))
        #expect(t.effects.contains(where: { if case .flagForReview = $0 { true } else { false } }))
    }

    @Test("declined → declined: refund, email, order cancelled, each once")
    func declined() {
        let t = Self.apply(.decision(.declined))
        #expect(t.state == .declined && t.refundStatus == .refundPending && t.reason == .declined)
        #expect(t.effects == [.cancelTimers, .refund(reason: .declined), .sendEmail(.declined), .cancelOrder(reason: .declined)])
    }

    @Test("resubmission requested keeps the session pending, sends the link again, and keeps the deadline")
    func resubmission() {
        let t = Self.apply(.decision(.resubmissionRequested))
        #expect(t.state == .pending)
        #expect(t.effects == [.sendEmail(.resubmission)])
        #expect(!t.effects.contains(.cancelTimers))
    }

    @Test("provider-side expiry or abandonment is recorded and a fresh provider session opened; our deadline still governs",
          arguments: [VerificationDecision.expired, .abandoned])
    func providerLapse(_ decision: VerificationDecision) {
        let t = Self.apply(.decision(decision))
        #expect(t.state == .pending && t.effects == [.reopenVerification])
        #expect(t.event == "session.provider_\(decision.rawValue)")
    }

    @Test("a review at the provider holds the session; the deadline then flags it for a person instead of refunding")
    func review() {
        let t = Self.apply(.decision(.review))
        #expect(t.state == .pending && t.effects == [.awaitReview(reason: "under review at the ID provider")])
        let held = SessionSnapshot(state: .pending, refundStatus: .none, awaitingReview: "under review at the ID provider")
        let deadline = Self.apply(.deadlineReached, held)
        #expect(deadline.state == .pending && deadline.event == "session.deadline_held")
        #expect(!deadline.effects.contains(where: { if case .refund = $0 { true } else { false } }))
        #expect(deadline.effects.contains(where: { if case .flagForReview = $0 { true } else { false } }))
        #expect(Self.apply(.reminderDue, held).effects.isEmpty, "no reminder to a customer already under review")
    }

    @Test("deadline while pending → expired: refund, email, order cancelled")
    func deadline() {
        let t = Self.apply(.deadlineReached)
        #expect(t.state == .expired && t.refundStatus == .refundPending && t.reason == .expired)
        #expect(t.effects == [.cancelReminder, .refund(reason: .expired), .sendEmail(.expired), .cancelOrder(reason: .expired)])
    }

    @Test("reminder while pending sends the reminder email")
    func reminder() {
        let t = Self.apply(.reminderDue)
        #expect(t.state == .pending && t.effects == [.sendEmail(.reminder)])
    }

    @Test("an order cancelled in the shop cancels the session and its timers: no refund, no email")
    func cancelled() {
        let t = Self.apply(.orderCancelled)
        #expect(t.state == .cancelled && t.refundStatus == .none && t.reason == .orderCancelled)
        #expect(t.effects == [.cancelTimers])
        let after = Self.apply(.orderCancelled, SessionSnapshot(state: .approved, refundStatus: .none))
        #expect(after.state == .approved && after.effects.isEmpty, "a decided order keeps its outcome")
    }

    @Test("timers after a final outcome do nothing", arguments: [SessionState.approved, .declined, .expired, .notRequired, .cancelled])
    func leftoverTimers(_ state: SessionState) {
        for input in [SessionInput.deadlineReached, .reminderDue] {
            let t = Self.apply(input, SessionSnapshot(state: state, refundStatus: .refunded))
            #expect(t.state == state && t.refundStatus == .refunded && t.effects.isEmpty)
            #expect(t.event == "timer.ignored")
        }
    }

    @Test("a final outcome is never undone; contradicting decisions go to review",
          arguments: [SessionState.approved, .declined, .expired, .notRequired, .cancelled])
    func lateDecisions(_ state: SessionState) {
        let inputs: [SessionInput] = [.approved(.ofAge), .approved(.underage)] + VerificationDecision.allCases.map { .decision($0) }
        for input in inputs {
            let t = Self.apply(input, SessionSnapshot(state: state, refundStatus: .refunded))
            #expect(t.state == state, "\(input) must not change a \(state) session")
            #expect(t.refundStatus == .refunded)
            #expect(!t.effects.contains(where: {
                if case .refund = $0 { return true }
                return $0 == .releaseOrder || $0 == .cancelTimers
            }))
            switch t.event {
            case "decision.repeated", "decision.after_outcome":
                #expect(t.effects.isEmpty)
            case "decision.late":
                #expect(t.effects.count == 1)
                if case .flagForReview? = t.effects.first {} else { Issue.record("expected a review flag, got \(t.effects)") }
            default:
                Issue.record("unexpected event \(t.event) for \(input) on \(state)")
            }
        }
    }
}
