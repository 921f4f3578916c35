import Foundation

/// Where a verification session stands. `pending` is the only state that moves.
public enum SessionState: String, Sendable, Codable, CaseIterable {
    case pending, approved, declined, expired

    public var isFinal: Bool { self != .pending }
}

/// The refund that follows a decline or an expiry.
public enum RefundStatus: String, Sendable, Codable, CaseIterable {
    case none
    case refundPending = "refund_pending"
    case refunded
    case refundFailed = "refund_failed"
}

/// A decision as the ID provider reports it.
public enum VerificationDecision: String, Sendable, Codable, CaseIterable {
    case approved
    case declined
    case resubmissionRequested = "resubmission_requested"
    /// The provider's own session lapsed or was abandoned; our deadline still governs.
    case expired
    case abandoned
}

/// The emails Vigil sends; each maps to a template.
public enum EmailKind: String, Sendable, Codable, CaseIterable {
    case verificationLink = "verification_link"
    case reminder
    case resubmission
    case approved
    case declined
    case expired
}

/// Something that happens to a session.
public enum SessionInput: Sendable, Equatable {
    case decision(VerificationDecision)
    case deadlineReached
    case reminderDue
}

/// What the flow must do as a result of a transition; the flow turns these into tasks,
/// cancellations and review items inside the same transaction.
public enum SessionEffect: Sendable, Equatable {
    case cancelTimers
    case cancelReminder
    case releaseOrder
    case annotateOrder(reason: String)
    case refund(reason: String)
    case sendEmail(EmailKind)
    case flagForReview(reason: String)
}

/// The result of applying an input to a session: its next state, what to do, and the
/// timeline entry that records it.
public struct SessionTransition: Sendable, Equatable {
    public var state: SessionState
    public var refundStatus: RefundStatus
    public var effects: [SessionEffect]
    public var event: String

    public init(state: SessionState, refundStatus: RefundStatus, effects: [SessionEffect], event: String) {
        self.state = state
        self.refundStatus = refundStatus
        self.effects = effects
        self.event = event
    }
}

/// The session state machine. Pure: no clock, no I/O; the flow supplies the current state and
/// applies the result.
public enum SessionMachine {
    public static func apply(
        _ input: SessionInput, to state: SessionState, refundStatus: RefundStatus
    ) -> SessionTransition {
        func stay(_ event: String, _ effects: [SessionEffect] = []) -> SessionTransition {
            SessionTransition(state: state, refundStatus: refundStatus, effects: effects, event: event)
        }
        switch (state, input) {
        case (.pending, .decision(.approved)):
            return SessionTransition(
                state: .approved, refundStatus: refundStatus,
                effects: [.cancelTimers, .releaseOrder, .sendEmail(.approved)],
                event: "session.approved")
        case (.pending, .decision(.declined)):
            return SessionTransition(
                state: .declined, refundStatus: .refundPending,
                effects: [.cancelTimers, .refund(reason: "declined"), .sendEmail(.declined),
                          .annotateOrder(reason: "declined")],
                event: "session.declined")
        case (.pending, .decision(.resubmissionRequested)):
            // The deadline does not move: the customer retries within the original window.
            return stay("session.resubmission_requested", [.sendEmail(.resubmission)])
        case (.pending, .decision(.expired)), (.pending, .decision(.abandoned)):
            return stay("session.provider_\(inputName(input))")
        case (.pending, .deadlineReached):
            return SessionTransition(
                state: .expired, refundStatus: .refundPending,
                effects: [.cancelReminder, .refund(reason: "expired"), .sendEmail(.expired),
                          .annotateOrder(reason: "expired")],
                event: "session.expired")
        case (.pending, .reminderDue):
            return stay("reminder.due", [.sendEmail(.reminder)])
        case (_, .deadlineReached), (_, .reminderDue):
            // Timers that fire after a final outcome are leftovers; nothing to do.
            return stay("timer.ignored")
        case (_, .decision(let decision)):
            // A final outcome is never undone. A repeat of the same outcome is noise; anything
            // else contradicts what happened and goes to a person.
            if decision.rawValue == state.rawValue {
                return stay("decision.repeated")
            }
            return stay("decision.late", [.flagForReview(
                reason: "\(decision.rawValue) received after the session was \(state.rawValue)")])
        }
    }

    private static func inputName(_ input: SessionInput) -> String {
        if case .decision(let d) = input { return d.rawValue }
        return "\(input)"
    }
}

/// What Vigil asks the shop platform to do with an order.
public enum OrderAction: String, Sendable, Codable, CaseIterable {
    /// Verification passed: the shop may ship.
    case release
    /// Add a note (declined, expired) to the order.
    case annotate
}
