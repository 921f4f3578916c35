import Foundation
import VigilCore

/// Sandbox mode ("safe mode"): nothing is sent. Each call answers as the provider would and
/// says so (`mode: sandbox`), so the worker records it in the outbox like a live call; a retried
/// task finds that record and gets the same answer, exactly as a real provider honouring the
/// idempotency key would give.
public struct SandboxProviders: Sendable {
    public init() {}

    public var providers: Providers {
        Providers(identity: SandboxIdentity(), email: SandboxEmail(), payments: SandboxPayments(), shop: SandboxShop())
    }
}

struct SandboxIdentity: IdentityVerifier {
    func createSession(_ request: VerificationRequest, call: ProviderCall) async throws -> ProviderReply<VerificationSessionRef> {
        let id = IdempotencyKey.uuid(from: call.idempotencyKey)
        return try ProviderReply(VerificationSessionRef(id: id, url: "https://sandbox.vigil.invalid/verify/\(id)"),
                                 provider: .veriff, operation: .createSession, mode: .sandbox, request: request)
    }

    func check() async -> ProviderCheck { .safeMode }
}

struct SandboxEmail: EmailSender {
    func send(_ message: EmailMessage, call: ProviderCall) async throws -> ProviderReply<EmailAccepted> {
        try ProviderReply(EmailAccepted(status: 202), provider: .sendgrid, operation: .sendEmail, mode: .sandbox, request: message)
    }

    func check() async -> ProviderCheck { .safeMode }
}

struct SandboxPayments: PaymentGateway {
    func refund(_ request: RefundRequest, call: ProviderCall) async throws -> ProviderReply<RefundResult> {
        let request = try request.check()
        return try ProviderReply(RefundResult(refundId: "re_sandbox_\(call.idempotencyKey.suffix(16))"),
                          provider: .payments, operation: .refund, mode: .sandbox, request: request)
    }

    func check() async -> ProviderCheck { .safeMode }
}

struct SandboxShop: ShopPlatform {
    func updateOrder(_ update: OrderUpdate, call: ProviderCall) async throws -> ProviderReply<OrderUpdated> {
        try ProviderReply(OrderUpdated(status: 200), provider: .lightspeed, operation: .updateOrder, mode: .sandbox,
                          request: update)
    }

    /// In sandbox the shop reports one payment for the whole order, so refunds can be tried.
    func payments(orderId: String, orderTotal: Decimal, currency: String?, call: ProviderCall) async throws -> ProviderReply<ShopPayments> {
        struct Query: Encodable { var orderId: String }
        let payment = ShopPayment(reference: "sandbox-\(orderId)", amount: orderTotal, currency: currency)
        return try ProviderReply(ShopPayments(payments: [payment]), provider: .lightspeed, operation: .listPayments,
                                 mode: .sandbox, request: Query(orderId: orderId))
    }

    func check() async -> ProviderCheck { .safeMode }
}
