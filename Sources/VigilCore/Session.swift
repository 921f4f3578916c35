import Foundation

/// Where a verification session stands. `pending` is the only state that moves.
public enum SessionState: String, Sendable, Codable, CaseIterable {
    case pending, approved, declined, expired
    /// No rule of the policy asked for a check: the order was released at once.
    case notRequired = "not_required"
    /// The order was cancelled in the shop while the check was pending: no refund, no email.
    case cancelled

    public var isFinal: Bool { self != .pending }
}

/// The refund that follows a decline or an expiry.
public enum RefundStatus: String, Sendable, Codable, CaseIterable {
    case none
    case refundPending = "refund_pending"
    case refunded
    case refundFailed = "refund_failed"
}

/// A decision as the ID provider reports it (Veriff's `verification.status`).
public enum VerificationDecision: String, Sendable, Codable, CaseIterable {
    case approved
    case declined
    case resubmissionRequested = "resubmission_requested"
    /// The provider's own session lapsed or was abandoned; our deadline still governs.
    case expired
    case abandoned
    /// A person at the provider is looking; a final decision follows.
    case review
}

/// Why a session ended as it did, for the timeline, the emails and the shop's note.
public enum OutcomeReason: String, Sendable, Codable, CaseIterable {
    /// Declined by the ID provider.
    case declined
    /// Verified, but younger than the policy's minimum for the order's region.
    case underage
    /// The identity document had expired on the day of the decision.
    case documentExpired = "document_expired"
    /// The shop does not sell age-restricted goods to the order's region.
    case regionBlocked = "region_blocked"
    /// The deadline passed without a decision.
    case expired
    /// Verified and of age.
    case verified
    /// Verified of age within the remembered period: no new check.
    case returningCustomer = "returning_customer"
    /// No rule of the policy asked for a check.
    case notRequired = "not_required"
    /// Cancelled in the shop (reported by its webhook, or by an operator).
    case orderCancelled = "order_cancelled"
    /// Approved by an operator in the console or the admin API.
    case approvedByOperator = "approved_by_operator"
    /// Declined by an operator in the console or the admin API.
    case declinedByOperator = "declined_by_operator"
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
    /// The provider approved the identity; the policy's verdict on it.
    case approved(AgeVerdict)
    /// Any other decision the provider reports (approvals come as `.approved`).
    case decision(VerificationDecision)
    case deadlineReached
    case reminderDue
    /// The order was cancelled in the shop.
    case orderCancelled
    /// A person in the shop decided (console or admin API); see `OperatorAction`.
    case byOperator(OperatorAction)
}

/// What staff can do to an order by hand. Each is a transition of the same machine, allowed only
/// from the states its `allowed` names; anything else is refused whole.
public enum OperatorAction: Sendable, Equatable {
    /// Approve without (or despite) the provider: the order is released.
    case approve
    /// Decline: refund, email and cancel at the shop, as for the provider's decline.
    case decline
    /// Send the verification link again.
    case resend
    /// Move the deadline (later only).
    case extend(to: Date)
    /// The order was cancelled in the shop: stop everything, no refund.
    case cancel

    public var name: String {
        switch self {
        case .approve: "approve"
        case .decline: "decline"
        case .resend: "resend"
        case .extend: "extend"
        case .cancel: "cancel"
        }
    }
}

/// What the flow must do as a result of a transition; the flow turns these into tasks,
/// cancellations and review items inside the same transaction.
public enum SessionEffect: Sendable, Equatable {
    /// Cancel the reminder and the deadline.
    case cancelTimers
    case cancelReminder
    case releaseOrder
    /// Cancel the order at the shop, with a note saying why.
    case cancelOrder(reason: OutcomeReason)
    case refund(reason: OutcomeReason)
    case sendEmail(EmailKind)
    /// Remember the customer as verified of age, for the policy's period.
    case rememberCustomer
    case flagForReview(reason: String)
    /// Mark the session as waiting for a person (the deadline then flags instead of expiring).
    case awaitReview(reason: String)
    /// Replace the deadline timer with one at this time.
    case moveDeadline(to: Date)
    /// The provider's session lapsed while Vigil's deadline runs: open a fresh one (the
    /// customer's link, which points at Vigil's page, stays the same).
    case reopenVerification
}

/// An operator action the session's state does not allow, with the reason in words.
public struct ActionRefused: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A session as the state machine needs to see it.
public struct SessionSnapshot: Sendable, Equatable {
    public var state: SessionState
    public var refundStatus: RefundStatus
    /// Set while a person (at the provider or in the shop) must decide: the deadline then does
    /// not expire and refund the order by itself.
    public var awaitingReview: String?

    public init(state: SessionState, refundStatus: RefundStatus, awaitingReview: String? = nil) {
        self.state = state
        self.refundStatus = refundStatus
        self.awaitingReview = awaitingReview
    }
}

/// The result of applying an input to a session: its next state, what to do, and the
/// timeline entry that records it.
public struct SessionTransition: Sendable, Equatable {
    public var state: SessionState
    public var refundStatus: RefundStatus
    public var reason: OutcomeReason?
    public var effects: [SessionEffect]
    public var event: String

    public init(state: SessionState, refundStatus: RefundStatus, reason: OutcomeReason? = nil, effects: [SessionEffect],
                event: String) {
        self.state = state
        self.refundStatus = refundStatus
        self.reason = reason
        self.effects = effects
        self.event = event
    }
}

/// The session state machine. Pure: no clock, no I/O; the flow supplies the current state and
/// applies the result.
public enum SessionMachine {
    public static func apply(_ input: SessionInput, to session: SessionSnapshot) -> SessionTransition {
        let (state, refundStatus) = (session.state, session.refundStatus)
        func stay(_ event: String, _ effects: [SessionEffect] = []) -> SessionTransition {
            SessionTransition(state: state, refundStatus: refundStatus, effects: effects, event: event)
        }
        func decline(_ reason: OutcomeReason, cancelling timers: SessionEffect = .cancelTimers) -> SessionTransition {
            SessionTransition(
                state: reason == .expired ? .expired : .declined, refundStatus: .refundPending, reason: reason,
                effects: [timers, .refund(reason: reason), .sendEmail(reason == .expired ? .expired : .declined),
                          .cancelOrder(reason: reason)],
                event: reason == .expired ? "session.expired" : "session.declined")
        }
        switch (state, input) {
        case (.pending, .approved(.ofAge)):
            return SessionTransition(
                state: .approved, refundStatus: refundStatus, reason: .verified,
                effects: [.cancelTimers, .releaseOrder, .sendEmail(.approved), .rememberCustomer],
                event: "session.approved")
        case (.pending, .approved(.underage)):
            return decline(.underage)
        case (.pending, .approved(.documentExpired)):
            return decline(.documentExpired)
        case (.pending, .approved(.missingDateOfBirth)):
            // Approved by the provider, but nothing says how old: a person decides, not the clock.
            let reason = "approved by the ID provider without a date of birth"
            return stay("session.needs_review", [.awaitReview(reason: reason), .flagForReview(reason: reason)])
        case (.pending, .decision(.declined)):
            return decline(.declined)
        case (.pending, .decision(.resubmissionRequested)):
            // The deadline does not move: the customer retries within the original window.
            return stay("session.resubmission_requested", [.sendEmail(.resubmission)])
        case (.pending, .decision(.review)):
            return stay("session.under_review", [.awaitReview(reason: "under review at the ID provider")])
        case (.pending, .decision(.expired)), (.pending, .decision(.abandoned)):
            // The provider's session lapsed; Vigil's deadline still governs, and a fresh session
            // is opened for the customer's page.
            return stay("session.provider_\(decisionName(input))", [.reopenVerification])
        case (.pending, .decision(.approved)):
            // Approvals reach the machine as `.approved(verdict)`; a bare one has no verdict.
            return stay("session.needs_review", [.awaitReview(reason: "approved without an age verdict"),
                                                  .flagForReview(reason: "approved without an age verdict")])
        case (.pending, .deadlineReached):
            if let waiting = session.awaitingReview {
                return stay("session.deadline_held", [.cancelReminder,
                                                       .flagForReview(reason: "the deadline passed while \(waiting); decide by hand")])
            }
            return decline(.expired, cancelling: .cancelReminder)
        case (.pending, .reminderDue):
            if session.awaitingReview != nil { return stay("reminder.skipped") }
            return stay("reminder.due", [.sendEmail(.reminder)])
        case (.pending, .orderCancelled):
            return SessionTransition(state: .cancelled, refundStatus: refundStatus, reason: .orderCancelled,
                                     effects: [.cancelTimers], event: "session.cancelled")
        case (.pending, .byOperator(let action)):
            switch action {
            case .approve:
                return SessionTransition(state: .approved, refundStatus: refundStatus, reason: .approvedByOperator,
                                         effects: [.cancelTimers, .releaseOrder, .sendEmail(.approved)], event: "session.approved")
            case .decline:
                return decline(.declinedByOperator)
            case .resend:
                return stay("session.link_resent", [.sendEmail(.verificationLink)])
            case .extend(let deadline):
                return stay("session.deadline_extended", [.moveDeadline(to: deadline)])
            case .cancel:
                return SessionTransition(state: .cancelled, refundStatus: refundStatus, reason: .orderCancelled,
                                         effects: [.cancelTimers], event: "session.cancelled")
            }
        case (_, .byOperator):
            // Refused before it reaches here (`refusal`); a final outcome is never undone.
            return stay("action.refused")
        case (_, .orderCancelled):
            // The outcome stands; the shop's own cancellation of an order already decided is its business.
            return stay("order.cancelled_after_outcome")
        case (_, .deadlineReached), (_, .reminderDue):
            // Timers that fire after a final outcome are leftovers; nothing to do.
            return stay("timer.ignored")
        case (_, .approved), (_, .decision):
            // A final outcome is never undone. A repeat of the same outcome is noise; anything
            // else contradicts what happened and goes to a person.
            let name = decisionName(input)
            if name == state.rawValue { return stay("decision.repeated") }
            let informational: [VerificationDecision] = [.review, .expired, .abandoned, .resubmissionRequested]
            if informational.contains(where: { $0.rawValue == name }) {
                return stay("decision.after_outcome")
            }
            return stay("decision.late", [.flagForReview(reason: "\(name) received after the session was \(state.rawValue)")])
        }
    }

    /// Why an operator action cannot be applied to the session, or nil when it can. Every action
    /// needs a pending session: an outcome, once reached, is never undone by hand either.
    public static func refusal(_ action: OperatorAction, to session: SessionSnapshot, now: Date,
                               deadline: Date) -> ActionRefused? {
        guard session.state == .pending else {
            return ActionRefused("the order is \(session.state.rawValue); only a pending order can be given '\(action.name)'")
        }
        if case .extend(let to) = action {
            guard to > deadline else { return ActionRefused("the new deadline must be later than the current one") }
            guard to > now else { return ActionRefused("the new deadline must be in the future") }
            guard to.timeIntervalSince(now) <= maximumExtension else {
                return ActionRefused("the new deadline can be at most \(DurationText.format(maximumExtension)) from now")
            }
        }
        return nil
    }

    /// How far ahead a deadline can be moved: the provider's sessions and the gateway's refund
    /// window do not last for ever.
    public static let maximumExtension: TimeInterval = 30 * 86_400

    private static func decisionName(_ input: SessionInput) -> String {
        switch input {
        case .approved: "approved"
        case .decision(let d): d.rawValue
        default: "\(input)"
        }
    }
}

/// What Vigil asks the shop platform to do with an order.
public enum OrderAction: String, Sendable, Codable, CaseIterable {
    /// Verification is pending: hold the order so it is not fulfilled.
    case hold
    /// Verification passed: the shop may ship.
    case release
    /// Verification failed or lapsed: cancel the order (with a note saying why).
    case cancel
    /// Add a note to the order (orders from before holds and cancellations).
    case annotate
}
