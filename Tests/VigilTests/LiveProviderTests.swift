import Crypto
import Foundation
import Synchronization
import Testing
import VigilCore
@testable import VigilProviders
import VigilPostgres
import VigilSQLite
import VigilStore

/// Each live provider against a local server that checks the wire format: method, path,
/// headers, body and signature, as the providers document them.
@Suite("Live providers: wire formats")
struct LiveProviderWireTests {
    static let sessionAnswer = #"{"status":"success","verification":{"id":"f04bdb47-d3be-4b28-b028-a652feb060b5","url":"https://alchemy.veriff.com/v/abc","vendorData":"L1","status":"created","sessionToken":"tok"}}"#

    @Test("Veriff: POST /v1/sessions with X-AUTH-CLIENT and X-HMAC-SIGNATURE over the exact body; vendorData is the order")
    func veriffCreateSession() async throws {
        let fake = FakeProvider { _ in .json(201, Self.sessionAnswer) }
        try await fake.run { base in
            try await withProviderClient { client in
                let providers = LiveProviders.make(liveSettings(base: base), http: client)
                let reply = try await providers.identity.createSession(
                    VerificationRequest(orderId: "L1", customerName: "Ada Lovelace", customerEmail: "ada@example.com"), call: testCall)
                #expect(reply.value == VerificationSessionRef(id: "f04bdb47-d3be-4b28-b028-a652feb060b5", url: "https://alchemy.veriff.com/v/abc"))
                #expect(reply.provider == .veriff && reply.operation == .createSession && reply.mode == .live)
                #expect(!reply.request.contains("veriff-api-key"), "the recorded request holds no credential")
                let request = try #require(fake.requests.first)
                #expect(request.method == "POST" && request.path == "/v1/sessions")
                #expect(request.headers["X-AUTH-CLIENT"] == "veriff-api-key")
                #expect(request.headers["Content-Type"] == "application/json")
                let signature = try #require(request.headers["X-HMAC-SIGNATURE"])
                #expect(signature == WebhookSignature.sign(request.body, secret: Secret("veriff-shared")))
                let verification = try #require(request.json["verification"] as? [String: Any])
                #expect(verification["vendorData"] as? String == "L1")
                #expect(verification["callback"] as? String == "https://vigil.example.com/api/v1/veriff/webhook")
                let person = try #require(verification["person"] as? [String: Any])
                #expect(person["firstName"] as? String == "Ada" && person["lastName"] as? String == "Lovelace")
            }
        }
    }

    @Test("SendGrid: POST /v3/mail/send, bearer key, the kind's dynamic template, custom_args with order and key; 202")
    func sendgridSend() async throws {
        let fake = FakeProvider { _ in FakeReply(status: 202, body: "") }
        try await fake.run { base in
            try await withProviderClient { client in
                let providers = LiveProviders.make(liveSettings(base: base), http: client)
                let deadline = Date(timeIntervalSince1970: 1_800_000_000)
                try await providers.email.send(EmailMessage(
                    kind: .reminder, to: "ada@example.com", customerName: "Ada", orderId: "L1",
                    verificationURL: "https://alchemy.veriff.com/v/abc", deadline: deadline), call: testCall)
                let request = try #require(fake.requests.first)
                #expect(request.method == "POST" && request.path == "/v3/mail/send")
                #expect(request.headers["Authorization"] == "Bearer SG.key")
                let body = request.json
                #expect(body["template_id"] as? String == "d-reminder")
                #expect((body["from"] as? [String: Any])?["email"] as? String == "shop@example.com")
                let args = try #require(body["custom_args"] as? [String: String])
                #expect(args == ["order_id": "L1", "idempotency_key": testCall.idempotencyKey])
                let personalization = try #require((body["personalizations"] as? [[String: Any]])?.first)
                #expect((personalization["to"] as? [[String: Any]])?.first?["email"] as? String == "ada@example.com")
                let data = try #require(personalization["dynamic_template_data"] as? [String: Any])
                #expect(data["verification_url"] as? String == "https://alchemy.veriff.com/v/abc")
                #expect(data["order_id"] as? String == "L1")
                #expect(data["deadline"] as? String == Timestamp.string(deadline))
            }
        }
    }

    @Test("Stripe: form-encoded POST /v1/refunds with Idempotency-Key = the task's key; amount in minor units")
    func stripeRefund() async throws {
        let fake = FakeProvider { _ in .json(200, #"{"id":"re_123","object":"refund","status":"succeeded"}"#) }
        try await fake.run { base in
            try await withProviderClient { client in
                let providers = LiveProviders.make(liveSettings(base: base), http: client)
                #expect(providers.payments.requiresPaymentReference)
                let result = try await providers.payments.refund(RefundRequest(
                    orderId: "L1", paymentId: "pi_3Mtw", amount: Decimal(string: "50.25")!, paid: Decimal(string: "50.25")!, currency: "USD", reason: "declined"),
                    call: testCall)
                #expect(result.value.refundId == "re_123")
                let request = try #require(fake.requests.first)
                #expect(request.method == "POST" && request.path == "/v1/refunds")
                #expect(request.headers["Authorization"] == "Bearer sk_test_gateway")
                #expect(request.headers["Idempotency-Key"] == testCall.idempotencyKey)
                #expect(request.headers["Content-Type"] == "application/x-www-form-urlencoded")
                #expect(request.form == ["payment_intent": "pi_3Mtw", "amount": "5025", "reason": "requested_by_customer",
                                         "metadata[order_id]": "L1", "metadata[vigil_reason]": "declined"])
            }
        }
        #expect(StripeGateway.fields(RefundRequest(orderId: "o", paymentId: "ch_1", amount: 1200, paid: 1200, currency: "JPY", reason: "r"),
                                     paymentId: "ch_1", minorUnits: 1200).first! == ("charge", "ch_1"))
        #expect(MinorUnits.amount(1200, currency: "jpy") == 1200)
        #expect(MinorUnits.amount(Decimal(string: "1.234")!, currency: "KWD") == 1234)
        #expect(MinorUnits.amount(Decimal(string: "19.99")!, currency: nil) == 1999)
    }

    @Test("Authorize.Net: unsettled → voidTransaction, settled → refundTransaction with the card's last four; schema order kept")
    func authorizeNet() async throws {
        let statuses = Mutex(["60001": "capturedPendingSettlement", "60002": "settledSuccessfully", "60003": "voided", "60004": "declined"])
        let fake = FakeProvider { request in
            let text = request.text
            if text.hasPrefix(#"{"getTransactionDetailsRequest""#) {
                let id = (((request.json["getTransactionDetailsRequest"] as? [String: Any])?["transId"]) as? String) ?? ""
                let status = statuses.withLock { $0[id] } ?? "unknown"
                // Authorize.Net prefixes its JSON with a byte-order mark.
                return .json(200, "\u{FEFF}" + #"{"transaction":{"transId":"\#(id)","transactionStatus":"\#(status)","payment":{"creditCard":{"cardNumber":"XXXX1111","expirationDate":"XXXX"}}},"messages":{"resultCode":"Ok","message":[{"code":"I00001","text":"Successful."}]}}"#)
            }
            return .json(200, "\u{FEFF}" + #"{"transactionResponse":{"responseCode":"1","transId":"70001"},"refId":"x","messages":{"resultCode":"Ok","message":[{"code":"I00001","text":"Successful."}]}}"#)
        }
        try await fake.run { base in
            try await withProviderClient { client in
                let gateway = LiveProviderSettings.Gateway.authorizeNet(loginId: Secret("login"), transactionKey: Secret("txkey"))
                let payments = LiveProviders.make(liveSettings(base: base, gateway: gateway), http: client).payments
                func refund(_ transId: String, key: String) async throws -> RefundResult {
                    try await payments.refund(RefundRequest(orderId: "L1", paymentId: transId, amount: 50, paid: 50, currency: "USD", reason: "declined"),
                                              call: ProviderCall(orderId: "L1", taskId: 1, idempotencyKey: key)).value
                }
                #expect(try await refund("60001", key: "vigil_k1").refundId == "void:70001")
                let void = try #require(fake.requests.last)
                #expect(void.path == "/xml/v1/request.api")
                #expect(void.text.hasPrefix(#"{"createTransactionRequest":{"merchantAuthentication":{"name":"login","transactionKey":"txkey"},"refId":"#))
                #expect(void.text.contains(#""transactionRequest":{"transactionType":"voidTransaction","refTransId":"60001"}"#))

                #expect(try await refund("60002", key: "vigil_k2").refundId == "70001")
                let refundRequest = try #require(fake.requests.last)
                #expect(refundRequest.text.contains(#""transactionRequest":{"transactionType":"refundTransaction","amount":"50.00","payment":{"creditCard":{"cardNumber":"1111","expirationDate":"XXXX"}},"refTransId":"60002","transactionSettings":{"setting":[{"settingName":"duplicateWindow","settingValue":"28800"}]}}"#))

                let before = fake.requests.count
                #expect(try await refund("60003", key: "vigil_k3").refundId == "void:60003")
                #expect(fake.requests.count == before + 1, "an already voided transaction is not voided again")

                await #expect(throws: ProviderError.self) { try await refund("60004", key: "vigil_k4") }
            }
        }
    }

    @Test("Lightspeed: PUT /orders/{id}.json with HTTP Basic; release sets the status, annotate writes the memo")
    func lightspeedUpdate() async throws {
        let fake = FakeProvider { _ in .json(200, #"{"order":{"id":1}}"#) }
        try await fake.run { base in
            try await withProviderClient { client in
                let shop = LiveProviders.make(liveSettings(base: base), http: client).shop
                try await shop.updateOrder(OrderUpdate(orderId: "1001", action: .release, note: "verified"),
                                           call: ProviderCall(orderId: "1001", taskId: 1, idempotencyKey: "vigil_a"))
                try await shop.updateOrder(OrderUpdate(orderId: "1001", action: .annotate, note: "ID check declined; refunded"),
                                           call: ProviderCall(orderId: "1001", taskId: 2, idempotencyKey: "vigil_b"))
                let requests = fake.requests
                #expect(requests.map(\.method) == ["PUT", "PUT"])
                #expect(requests.map(\.path) == ["/orders/1001.json", "/orders/1001.json"])
                #expect(requests[0].headers["Authorization"] == "Basic " + Data("ls-key:ls-secret".utf8).base64EncodedString())
                #expect((requests[0].json["order"] as? [String: String]) == ["status": "processing_awaiting_shipment"])
                #expect((requests[1].json["order"] as? [String: String]) == ["memo": "ID check declined; refunded"])
            }
        }
    }

    @Test("credential checks are read-only calls: ok, or fail with the reason")
    func checks() async throws {
        let fake = FakeProvider { request in
            switch request.path {
            case "/v3/scopes": .json(200, #"{"scopes":["mail.send","alerts.read"]}"#)
            case "/v1/balance": .json(401, #"{"error":{"message":"Invalid API Key provided"}}"#)
            case "/shop.json": .json(200, #"{"shop":{"id":1}}"#)
            default: .json(404, "{}")
            }
        }
        try await fake.run { base in
            try await withProviderClient { client in
                let providers = LiveProviders.make(liveSettings(base: base), http: client)
                #expect(await providers.email.check() == .ok)
                #expect(await providers.shop.check() == .ok)
                #expect(await providers.payments.check() == .fail("credentials refused (HTTP 401)"))
                #expect(fake.requests.allSatisfy { $0.method == "GET" })
                #expect(fake.received(at: "/v1/balance").count == 1, "a check is tried once")
            }
        }
    }
}
