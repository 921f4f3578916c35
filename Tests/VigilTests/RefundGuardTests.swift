import Foundation
import Testing
import VigilCore
@testable import VigilProviders

/// The last check before money moves, made by every gateway client itself: a refund that is not
/// positive, exceeds what was paid, or is not a whole number of the currency's smallest unit is
/// refused as permanent and never sent.
@Suite("Refund guard")
struct RefundGuardTests {
    static let refused: [(amount: String, paid: String, currency: String)] = [
        ("0", "50", "USD"), ("50.01", "50", "USD"), ("1e38", "1e38", "USD"), ("0.001", "50", "USD"), ("0.5", "10", "JPY"),
    ]

    func request(_ amount: String, paid: String, currency: String) throws -> RefundRequest {
        RefundRequest(orderId: "L1", paymentId: "pi_1", amount: try #require(Decimal(string: amount)),
                      paid: try #require(Decimal(string: paid)), currency: currency, reason: "declined")
    }

    func expectRefused(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("the refund was not refused", sourceLocation: sourceLocation)
        } catch let error as ProviderError {
            #expect(error.kind == .permanent, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("Stripe and Authorize.Net refuse a bad amount without calling the gateway; a good one is sent")
    func liveGateways() async throws {
        let fake = FakeProvider { request in
            request.path == "/v1/refunds" ? .json(200, #"{"id":"re_1","status":"succeeded"}"#) : .json(500, "{}")
        }
        try await fake.run { base in
            try await withProviderClient { client in
                let stripe = LiveProviders.make(liveSettings(base: base), http: client).payments
                let anet = LiveProviders.make(liveSettings(base: base, gateway: .authorizeNet(loginId: Secret("login"), transactionKey: Secret("key"))),
                                              http: client).payments
                for (amount, paid, currency) in Self.refused {
                    let refund = try request(amount, paid: paid, currency: currency)
                    await expectRefused { _ = try await stripe.refund(refund, call: testCall) }
                    // 0.001 USD and half a yen are Stripe's problem (minor units), not a bad refund in itself.
                    if refund.amount > refund.paid || refund.amount <= 0 || !Money.isValid(refund.amount) {
                        await expectRefused { _ = try await anet.refund(refund, call: testCall) }
                    }
                }
                #expect(fake.requests.isEmpty, "nothing was sent for a refused refund")
                let good = try await stripe.refund(try request("50", paid: "50", currency: "USD"), call: testCall)
                #expect(good.value.refundId == "re_1")
                #expect(fake.requests.first?.form["amount"] == "5000")
            }
        }
    }

    @Test("the sandbox gateway refuses the same refunds, so its outbox never records one")
    func sandbox() async throws {
        let payments = SandboxProviders().providers.payments
        for (amount, paid, currency) in Self.refused.prefix(3) {
            let refund = try request(amount, paid: paid, currency: currency)
            await expectRefused { _ = try await payments.refund(refund, call: testCall) }
        }
        _ = try await payments.refund(try request("49.99", paid: "50", currency: "USD"), call: testCall)
    }
}
