import Foundation
import VigilCore

/// Identifies one outbound call: the task making it and the key that makes a retry safe.
public struct ProviderCall: Sendable, Equatable {
    public var orderId: String
    public var taskId: Int64
    public var idempotencyKey: String

    public init(orderId: String, taskId: Int64, idempotencyKey: String) {
        self.orderId = orderId
        self.taskId = taskId
        self.idempotencyKey = idempotencyKey
    }
}

/// What a call did, for the outbox: the worker records it with the task's completion, in one
/// transaction. `request` is Vigil's own description of the call (never a credential);
/// `response` is what a later attempt of the same task reuses instead of calling again.
public struct ProviderReply<Value: Codable & Sendable>: Sendable {
    public var value: Value
    public var provider: Provider
    public var operation: ProviderOperation
    public var mode: ProviderMode
    /// JSON.
    public var request: String

    public init<Request: Encodable>(_ value: Value, provider: Provider, operation: ProviderOperation, mode: ProviderMode,
                                    request: Request) throws {
        self.value = value
        self.provider = provider
        self.operation = operation
        self.mode = mode
        self.request = try JSONCoding.string(request)
    }

    /// The value as the outbox keeps it (JSON).
    public var response: String {
        get throws { try JSONCoding.string(value) }
    }
}

/// A provider's answer to a dry-run credentials check (for `/__selftest`).
public enum ProviderCheck: Sendable, Equatable {
    case ok
    case safeMode
    case fail(String)

    public var label: String {
        switch self {
        case .ok: "ok"
        case .safeMode: "safe_mode"
        case .fail: "fail"
        }
    }
}

public struct VerificationRequest: Sendable, Codable, Equatable {
    public var orderId: String
    public var customerName: String?
    public var customerEmail: String
    public init(orderId: String, customerName: String?, customerEmail: String) {
        self.orderId = orderId
        self.customerName = customerName
        self.customerEmail = customerEmail
    }
}

public struct VerificationSessionRef: Sendable, Codable, Equatable {
    public var id: String
    public var url: String
    public init(id: String, url: String) {
        self.id = id
        self.url = url
    }
}

public struct EmailMessage: Sendable, Codable, Equatable {
    public var kind: EmailKind
    public var to: String
    public var customerName: String?
    public var orderId: String
    public var verificationURL: String?
    public var deadline: Date?
    public init(kind: EmailKind, to: String, customerName: String?, orderId: String, verificationURL: String?, deadline: Date?) {
        self.kind = kind
        self.to = to
        self.customerName = customerName
        self.orderId = orderId
        self.verificationURL = verificationURL
        self.deadline = deadline
    }
}

public struct RefundRequest: Sendable, Codable, Equatable {
    public var orderId: String
    public var paymentId: String?
    public var amount: Decimal
    /// What the customer paid on this payment: no refund may exceed it.
    public var paid: Decimal
    public var currency: String?
    public var reason: String
    public init(orderId: String, paymentId: String?, amount: Decimal, paid: Decimal, currency: String?, reason: String) {
        self.orderId = orderId
        self.paymentId = paymentId
        self.amount = amount
        self.paid = paid
        self.currency = currency
        self.reason = reason
    }

    /// Every gateway's last check before money moves: the amount is exact money, positive, and at
    /// most what was paid. Refused refunds are permanent failures (a retry cannot make them
    /// right); the task goes to the dead-letter list with this message on the order's timeline.
    public func check() throws -> RefundRequest {
        func refuse(_ why: String) -> ProviderError {
            ProviderError(provider: .payments, operation: .refund, kind: .permanent,
                          message: "refund of \(amount) for order \(orderId) refused before sending: \(why); refund it by hand if one is owed")
        }
        guard Money.isValid(amount), Money.isValid(paid) else { throw refuse("not an amount of money Vigil accepts") }
        guard amount > 0 else { throw refuse("not a positive amount") }
        guard amount <= paid else { throw refuse("more than the \(paid) paid") }
        return self
    }
}

public struct RefundResult: Sendable, Codable, Equatable {
    public var refundId: String
    public init(refundId: String) { self.refundId = refundId }
}

/// An email the provider accepted.
public struct EmailAccepted: Sendable, Codable, Equatable {
    /// The provider's HTTP status (202 for SendGrid).
    public var status: Int
    public init(status: Int) { self.status = status }
}

/// A payment the shop platform has on record for an order: what the gateway knows it by, and
/// how much of it may be refunded.
public struct ShopPayment: Sendable, Codable, Equatable {
    /// The gateway's charge or transaction (a Stripe PaymentIntent or charge, an Authorize.Net
    /// transaction id).
    public var reference: String
    public var amount: Decimal
    public var currency: String?

    public init(reference: String, amount: Decimal, currency: String?) {
        self.reference = reference
        self.amount = amount
        self.currency = currency
    }
}

/// How an order's refund is split over its payments: in order, each payment refunded up to what
/// is left of the total, so the refunds never add up to more than the order's total, and an
/// amount that is not positive is never sent.
public enum RefundPlan {
    public static func capped(_ payments: [ShopPayment], total: Decimal) -> [ShopPayment] {
        var left = total
        var plan: [ShopPayment] = []
        for payment in payments where left > 0 && payment.amount > 0 {
            var share = payment
            share.amount = min(payment.amount, left)
            left -= share.amount
            plan.append(share)
        }
        return plan
    }
}

/// What the shop platform reports of an order's payments.
public struct ShopPayments: Sendable, Codable, Equatable {
    public var payments: [ShopPayment]
    public init(payments: [ShopPayment]) { self.payments = payments }
}

/// An order update the shop platform accepted.
public struct OrderUpdated: Sendable, Codable, Equatable {
    public var status: Int
    public init(status: Int) { self.status = status }
}

public struct OrderUpdate: Sendable, Codable, Equatable {
    public var orderId: String
    public var action: OrderAction
    public var note: String
    public init(orderId: String, action: OrderAction, note: String) {
        self.orderId = orderId
        self.action = action
        self.note = note
    }
}

/// The ID-verification provider (Veriff).
///
/// Providers return what happened and write nothing: the worker records each reply in the
/// outbox with the task's completion, and a retried task whose call is already recorded reuses
/// the recorded answer instead of calling again.
public protocol IdentityVerifier: Sendable {
    func createSession(_ request: VerificationRequest, call: ProviderCall) async throws -> ProviderReply<VerificationSessionRef>
    func check() async -> ProviderCheck
}

/// The email provider (SendGrid).
public protocol EmailSender: Sendable {
    func send(_ message: EmailMessage, call: ProviderCall) async throws -> ProviderReply<EmailAccepted>
    func check() async -> ProviderCheck
}

/// The payment gateway, for refunds.
public protocol PaymentGateway: Sendable {
    func refund(_ request: RefundRequest, call: ProviderCall) async throws -> ProviderReply<RefundResult>
    func check() async -> ProviderCheck
    /// True when a refund needs the order's `paymentId` (the gateway's charge or transaction);
    /// a refund for an order without one goes to manual review instead.
    var requiresPaymentReference: Bool { get }
}

extension PaymentGateway {
    public var requiresPaymentReference: Bool { false }
}

/// The shop platform (Lightspeed): holding, releasing, cancelling and annotating orders, and
/// reading the payments of orders that came from it without naming one.
public protocol ShopPlatform: Sendable {
    func updateOrder(_ update: OrderUpdate, call: ProviderCall) async throws -> ProviderReply<OrderUpdated>
    /// The order's payments as the shop has them on record (at most `orderTotal` in all).
    func payments(orderId: String, orderTotal: Decimal, currency: String?, call: ProviderCall) async throws -> ProviderReply<ShopPayments>
    func check() async -> ProviderCheck
}

/// The four providers the flow talks to.
public struct Providers: Sendable {
    public var identity: any IdentityVerifier
    public var email: any EmailSender
    public var payments: any PaymentGateway
    public var shop: any ShopPlatform

    /// Whether each provider's circuit is open at a given time (live providers; none in sandbox).
    public var circuits: @Sendable (Date) -> [Provider: Bool]

    public init(identity: any IdentityVerifier, email: any EmailSender, payments: any PaymentGateway, shop: any ShopPlatform,
                circuits: @escaping @Sendable (Date) -> [Provider: Bool] = { _ in [:] }) {
        self.identity = identity
        self.email = email
        self.payments = payments
        self.shop = shop
        self.circuits = circuits
    }
}
