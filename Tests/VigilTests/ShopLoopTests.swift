import Foundation
import Synchronization
import Testing
import VigilCore
import VigilFlow
import VigilProviders
import VigilStore

/// The loop with the shop through its real client against a fake Lightspeed and a fake Stripe:
/// held while pending, cancelled on decline, and an order from Lightspeed's own webhook refunded
/// against the payments the shop reports.
@Suite("The shop: holds, cancellations and refunds of native Lightspeed orders")
struct ShopLoopTests {
    /// A Lightspeed order resource whose payment app recorded two payments that add up to more
    /// than the order's total (a retried capture, say).
    static let orderResource = #"""
    {"order":{"id":555,"status":"processing_awaiting_payment","paymentStatus":"paid","priceIncl":50,
     "paymentData":{"payments":[{"transactionId":"pi_first","amount":"30.00"},{"transactionId":"pi_second","amount":"40.00"}]}}}
    """#

    static func fake(orderResource: String = orderResource) -> FakeProvider {
        let refunds = Mutex(0)
        return FakeProvider { request in
            switch (request.method, request.path) {
            case ("GET", "/orders/555.json"): return .json(200, orderResource)
            case ("PUT", "/orders/555.json"): return .json(200, #"{"order":{"id":555}}"#)
            case ("POST", "/v1/refunds"):
                let n = refunds.withLock { $0 += 1; return $0 }
                return .json(200, #"{"id":"re_\#(n)","status":"succeeded"}"#)
            default: return .json(404, #"{"error":"not here"}"#)
            }
        }
    }

    /// The whole service on `backend`, with the live Lightspeed and Stripe clients pointed at
    /// `fake` (the ID provider and email stay in sandbox mode).
    func withLiveShop(_ fake: FakeProvider, _ backend: Backend,
                      _ body: @escaping @Sendable (Harness, any Store) async throws -> Void) async throws {
        try await fake.run { base in
            try await withProviderClient { client in
                try await withStore(backend) { store in
                    let live = LiveProviders.make(liveSettings(base: base), http: client)
                    let sandbox = SandboxProviders().providers
                    let providers = Providers(identity: sandbox.identity, email: sandbox.email, payments: live.payments, shop: live.shop)
                    try await body(Harness(store: store, providers: providers), store)
                }
            }
        }
    }

    func nativeOrder() -> OrderEvent {
        OrderEvent(event: "order.created", orderId: "555", customerEmail: "n@example.com", orderTotal: 50, currency: "USD",
                   customerName: "Ada", paymentId: nil, source: .lightspeed)
    }

    @Test("declined: held, then cancelled with the reason in the memo; two payments refunded, 30 + 20, never more than the total",
          arguments: Backend.allCases)
    func nativeOrderRefunded(_ backend: Backend) async throws {
        let fake = Self.fake()
        try await withLiveShop(fake, backend) { h, store in
            _ = try await h.flow.receiveOrder(nativeOrder(), payload: "{}")
            try await h.drain()
            let hold = try #require(fake.received(at: "/orders/555.json").first { $0.method == "PUT" })
            #expect((hold.json["order"] as? [String: String]) == ["status": "on_hold"])

            _ = try await h.flow.receiveDecision(h.decision("555", .declined))
            try await h.drain()
            let puts = fake.received(at: "/orders/555.json").filter { $0.method == "PUT" }
            #expect(puts.count == 2)
            let cancel = try #require(puts.last?.json["order"] as? [String: String])
            #expect(cancel["status"] == "cancelled" && cancel["memo"]?.contains("declined") == true)

            let refunds = fake.received(at: "/v1/refunds")
            #expect(refunds.map { $0.form["payment_intent"] ?? "?" }.sorted() == ["pi_first", "pi_second"])
            let amounts = Dictionary(uniqueKeysWithValues: refunds.map { ($0.form["payment_intent"] ?? "?", $0.form["amount"] ?? "?") })
            #expect(amounts == ["pi_first": "3000", "pi_second": "2000"], "capped at the order's 50.00")
            #expect(Set(refunds.compactMap { $0.headers["Idempotency-Key"] }).count == 2, "one key per payment")
            #expect(fake.received(at: "/orders/555.json").filter { $0.method == "GET" }.count == 1)

            let s = try #require(try await store.session(orderId: "555"))
            #expect(s.state == .declined && s.refundStatus == .refunded)
            let types = try await store.eventLog(orderId: "555").map(\.type)
            #expect(types.contains("refund.planned") && types.filter { $0 == "refund.completed" }.count == 2)
            #expect(try await store.reviews(limit: 10).isEmpty)

            // Nothing is refunded twice: the tasks are done, and a later pass does nothing.
            try await h.advance(by: 7 * 86_400)
            #expect(fake.received(at: "/v1/refunds").count == 2)
        }
    }

    @Test("an order the shop has no payment on record for goes to a person, once", arguments: Backend.allCases)
    func noPaymentOnRecord(_ backend: Backend) async throws {
        let fake = Self.fake(orderResource: #"{"order":{"id":555,"paymentStatus":"not_paid","paymentData":false}}"#)
        try await withLiveShop(fake, backend) { h, store in
            _ = try await h.flow.receiveOrder(nativeOrder(), payload: "{}")
            try await h.advance(by: 72 * 3600)
            let s = try #require(try await store.session(orderId: "555"))
            #expect(s.state == .expired && s.refundStatus == .refundFailed)
            #expect(fake.received(at: "/v1/refunds").isEmpty)
            #expect(try await store.reviews(limit: 10).filter { $0.orderId == "555" }.count == 1)
        }
    }

    @Test("Lightspeed payments: a single reference, a list, partial payments, junk and unpaid orders")
    func paymentParsing() throws {
        func parse(_ json: String, total: Decimal = 50) throws -> [String] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            return LightspeedPayments.parse(object, total: total, currency: "EUR").map { "\($0.reference)=\($0.amount)" }
        }
        #expect(try parse(#"{"paymentStatus":"paid","paymentData":{"transactionId":"t1"}}"#) == ["t1=50"])
        #expect(try parse(#"{"paymentStatus":"paid","paymentData":{"payment_intent":"pi_9","amount":"12.50"}}"#) == ["pi_9=12.5"])
        #expect(try parse(#"{"paymentStatus":"partially_paid","paymentData":{"transactions":[{"id":"a","amount":20},{"id":"b","amount":"45"}]}}"#)
                == ["a=20", "b=30"])
        #expect(try parse(#"{"paymentStatus":"paid","paymentData":{"payments":[{"id":"a","amount":-5},{"id":"","amount":5},{"amount":5},{"id":"c","amount":"NaN"}]}}"#)
                .isEmpty)
        #expect(try parse(#"{"paymentStatus":"not_paid","paymentData":{"transactionId":"t1"}}"#).isEmpty)
        #expect(try parse(#"{"paymentStatus":"paid","paymentData":false}"#).isEmpty)
        #expect(try parse(#"{"paymentStatus":"paid","paymentData":{"transactionId":"\#(String(repeating: "x", count: 300))"}}"#).isEmpty)
    }
}
