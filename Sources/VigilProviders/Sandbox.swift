import Foundation
import VigilCore
import VigilStore

/// Sandbox mode ("safe mode"): every provider call is recorded in the outbox under its
/// idempotency key and nothing is sent. A retried task finds its earlier record and gets the
/// same answer, exactly as a real provider honouring the key would give.
public struct SandboxProviders: Sendable {
    let store: any Store
    let clock: any VigilClock

    public init(store: any Store, clock: any VigilClock) {
        self.store = store
        self.clock = clock
    }

    public var providers: Providers {
        Providers(identity: SandboxIdentity(recorder: self), email: SandboxEmail(recorder: self),
                  payments: SandboxPayments(recorder: self), shop: SandboxShop(recorder: self))
    }

    /// Records the call and returns the response stored with the first record of this key.
    func record<Request: Encodable>(provider: String, operation: String, request: Request, call: ProviderCall,
                                    response: String?) async throws -> OutboxRecord {
        let entry = OutboxRecord(
            idempotencyKey: call.idempotencyKey, provider: provider, operation: operation, orderId: call.orderId,
            taskId: call.taskId, mode: "sandbox", request: try JSONCoding.string(request), response: response,
            at: clock.now())
        return try await store.write { tx in try await tx.recordOutbox(entry) }
    }
}

struct SandboxIdentity: IdentityVerifier {
    let recorder: SandboxProviders

    func createSession(_ request: VerificationRequest, call: ProviderCall) async throws -> VerificationSessionRef {
        let id = IdempotencyKey.uuid(from: call.idempotencyKey)
        let ref = VerificationSessionRef(id: id, url: "https://sandbox.vigil.invalid/verify/\(id)")
        let record = try await recorder.record(
            provider: "veriff", operation: "create_session", request: request, call: call,
            response: try JSONCoding.string(ref))
        return try record.response.map { try JSONCoding.decode(VerificationSessionRef.self, from: $0) } ?? ref
    }

    func check() async -> ProviderCheck { .safeMode }
}

struct SandboxEmail: EmailSender {
    let recorder: SandboxProviders
    func send(_ message: EmailMessage, call: ProviderCall) async throws {
        _ = try await recorder.record(provider: "sendgrid", operation: "send_email", request: message, call: call,
                                      response: #"{"status":202}"#)
    }
    func check() async -> ProviderCheck { .safeMode }
}

struct SandboxPayments: PaymentGateway {
    let recorder: SandboxProviders
    func refund(_ request: RefundRequest, call: ProviderCall) async throws -> RefundResult {
        let result = RefundResult(refundId: "re_sandbox_\(call.idempotencyKey.suffix(16))")
        let record = try await recorder.record(
            provider: "payments", operation: "refund", request: request, call: call,
            response: try JSONCoding.string(result))
        return try record.response.map { try JSONCoding.decode(RefundResult.self, from: $0) } ?? result
    }
    func check() async -> ProviderCheck { .safeMode }
}

struct SandboxShop: ShopPlatform {
    let recorder: SandboxProviders
    func updateOrder(_ update: OrderUpdate, call: ProviderCall) async throws {
        _ = try await recorder.record(provider: "lightspeed", operation: "update_order", request: update, call: call,
                                      response: nil)
    }
    func check() async -> ProviderCheck { .safeMode }
}
