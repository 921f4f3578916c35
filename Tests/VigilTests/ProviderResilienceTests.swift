import Foundation
import Synchronization
import Testing
import VigilCore
import VigilFlow
@testable import VigilProviders
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

@Suite("Provider calls: retries, Retry-After, timeouts, circuit breaker")
struct ProviderResilienceTests {
    @Test("full jitter: each delay is random in [0, min(cap, base·2^(n-1))]; Retry-After as seconds or an HTTP date")
    func policy() {
        let policy = CallRetryPolicy(maxAttempts: 5, baseDelay: 0.5, maxDelay: 8)
        #expect(policy.delay(afterAttempt: 1, random: 0.999) < 0.5)
        #expect(policy.delay(afterAttempt: 3, random: 0.5) == 1.0)
        #expect(policy.delay(afterAttempt: 10, random: 0.5) == 4.0, "capped at maxDelay before the jitter")
        #expect(policy.delay(afterAttempt: 4, random: 0) == 0)
        let now = Date(timeIntervalSince1970: 1_784_000_000)
        #expect(CallRetryPolicy.retryAfter("120", now: now) == 120)
        let date = "Wed, 15 Jul 2026 03:35:00 GMT"
        #expect(CallRetryPolicy.retryAfter(date, now: Date(timeIntervalSince1970: 1_784_086_500 - 60)) == 60)
        #expect(CallRetryPolicy.retryAfter("soon", now: now) == nil)
        #expect([408, 429, 500, 502, 503].allSatisfy(CallRetryPolicy.isRetryable))
        #expect(![400, 401, 402, 403, 404, 409, 422].contains(where: CallRetryPolicy.isRetryable))
    }

    @Test("5xx and 429 with Retry-After are retried in the call; other 4xx are not, and fail permanently")
    func retries() async throws {
        let script = Mutex([FakeReply.json(503, "{}"), FakeReply(status: 429, body: "{}", headers: [("Retry-After", "0")]),
                            .json(200, #"{"ok":true}"#), .json(400, #"{"error":{"message":"No such payment_intent"}}"#)])
        let fake = FakeProvider { _ in script.withLock { $0.removeFirst() } }
        try await fake.run { base in
            try await withProviderClient(maxAttempts: 3) { client in
                let ok = try await client.send(OutboundRequest(.POST, "\(base)/x"), provider: .payments, operation: .refund)
                #expect(ok.status == 200)
                #expect(fake.requests.count == 3)
                let error = await #expect(throws: ProviderError.self) {
                    try await client.send(OutboundRequest(.POST, "\(base)/x"), provider: .payments, operation: .refund)
                }
                #expect(error?.kind == .permanent && error?.status == 400)
                #expect(error?.description.contains("No such payment_intent") == true, "the provider's own words reach the timeline")
                #expect(fake.requests.count == 4, "a 400 is not retried")
            }
        }
    }

    @Test("a provider echoing our credentials in an error does not put them on the timeline")
    func echoedCredentialsAreScrubbed() async throws {
        let fake = FakeProvider { request in
            .json(400, #"{"error":"bad key \#(request.headers["Authorization"] ?? "") / \#(request.text)"}"#)
        }
        try await fake.run { base in
            try await withProviderClient { client in
                let stripe = LiveProviders.make(liveSettings(base: base), http: client).payments
                let error = await #expect(throws: ProviderError.self) {
                    try await stripe.refund(RefundRequest(orderId: "L1", paymentId: "pi_1", amount: 5, paid: 5, currency: "USD", reason: "declined"),
                                            call: testCall)
                }
                let text = error.map(String.init(describing:)) ?? ""
                #expect(text.contains("bad key") && text.contains("<redacted>"))
                #expect(!text.contains("sk_test_gateway"))

                let gateway = LiveProviderSettings.Gateway.authorizeNet(loginId: Secret("login-id-42"), transactionKey: Secret("txkey-secret-99"))
                let anet = LiveProviders.make(liveSettings(base: base, gateway: gateway), http: client).payments
                let anetError = await #expect(throws: ProviderError.self) {
                    try await anet.refund(RefundRequest(orderId: "L2", paymentId: "6001", amount: 5, paid: 5, currency: "USD", reason: "declined"),
                                          call: ProviderCall(orderId: "L2", taskId: 2, idempotencyKey: "vigil_x"))
                }
                let anetText = anetError.map(String.init(describing:)) ?? ""
                #expect(!anetText.contains("txkey-secret-99") && !anetText.contains("login-id-42"))
            }
        }
    }

    @Test("a Retry-After longer than a call waits reschedules the task for then; timeouts and bad bodies are transient")
    func throttledAndSlow() async throws {
        let fake = FakeProvider { request in
            switch request.path {
            case "/throttle": FakeReply(status: 429, body: "{}", headers: [("Retry-After", "120")])
            case "/slow": FakeReply(status: 200, body: "{}", delay: .seconds(3))
            default: .json(200, "<html>gateway error</html>")
            }
        }
        try await fake.run { base in
            try await withProviderClient(timeout: 10, maxAttempts: 2, maxInCallWait: 5) { client in
                let started = Date()
                let throttled = await #expect(throws: ProviderThrottled.self) {
                    try await client.send(OutboundRequest(.GET, "\(base)/throttle"), provider: .veriff, operation: .check)
                }
                let wait = throttled.map { $0.retryNotBefore.timeIntervalSince(started) } ?? 0
                #expect(wait >= 119 && wait < 130)
                #expect(throttled?.countsAsAttempt == true)
                #expect(fake.received(at: "/throttle").count == 1, "not waited out inside the call")
            }
            try await withProviderClient(timeout: 1, maxAttempts: 2) { client in
                let slow = await #expect(throws: ProviderError.self) {
                    try await client.send(OutboundRequest(.GET, "\(base)/slow"), provider: .sendgrid, operation: .sendEmail)
                }
                #expect(slow?.kind == .transient && slow?.message == "no answer within the timeout")
                #expect(fake.received(at: "/slow").count == 2)
            }
            // A 200 whose body is not what the provider documents is a transient failure, retried by the queue.
            try await withProviderClient { client in
                let payments = LiveProviders.make(liveSettings(base: base), http: client).payments
                let error = await #expect(throws: ProviderError.self) {
                    try await payments.refund(RefundRequest(orderId: "L1", paymentId: "pi_1", amount: 5, paid: 5, currency: "USD", reason: "declined"),
                                              call: testCall)
                }
                #expect(error?.kind == .transient)
            }
        }
    }

    @Test("a circuit that opens during a call's own retries: the call failed (a try reached the provider), not 'never sent'")
    func breakerOpensMidCall() async throws {
        let fake = FakeProvider { _ in .json(502, "{}") }
        try await fake.run { base in
            try await withProviderClient(maxAttempts: 3, breakerThreshold: 1, breakerCooldown: 30) { client in
                let request = OutboundRequest(.POST, "\(base)/v1/refunds")
                let error = await #expect(throws: ProviderThrottled.self) {
                    try await client.send(request, provider: .payments, operation: .refund)
                }
                #expect(error?.countsAsAttempt == true && error?.error.status == 502)
                #expect(fake.requests.count == 1, "the second try was refused by the open circuit")
                await #expect(throws: ProviderUnavailable.self, "a new call is refused before any try") {
                    try await client.send(request, provider: .payments, operation: .refund)
                }
            }
        }
    }

    @Test("circuit breaker: opens after consecutive failures, fails fast without a request, lets one trial through after the cooldown")
    func breaker() async throws {
        let clock = ManualClock()
        let healthy = Mutex(false)
        let fake = FakeProvider { _ in healthy.withLock { $0 } ? .json(200, "{}") : .json(502, "{}") }
        try await fake.run { base in
            try await withProviderClient(clock: clock, maxAttempts: 1, breakerThreshold: 3, breakerCooldown: 30) { client in
                let request = OutboundRequest(.POST, "\(base)/v1/refunds")
                for _ in 0..<3 {
                    await #expect(throws: ProviderError.self) { try await client.send(request, provider: .payments, operation: .refund) }
                }
                let open = await #expect(throws: ProviderUnavailable.self) {
                    try await client.send(request, provider: .payments, operation: .refund)
                }
                #expect(open?.retryNotBefore == clock.now().addingTimeInterval(30))
                #expect(open?.countsAsAttempt == false)
                #expect(fake.requests.count == 3, "an open circuit sends nothing")
                // Other providers are unaffected.
                #expect(client.breaker(for: .veriff)?.current == .closed(failures: 0))

                clock.advance(by: 30)
                healthy.withLock { $0 = true }
                _ = try await client.send(request, provider: .payments, operation: .refund)
                #expect(client.breaker(for: .payments)?.current == .closed(failures: 0))
                #expect(fake.requests.count == 4)
            }
        }
    }
}

@Suite("Live providers in the flow: exactly one refund per order under faults")
struct LiveFlowTests {
    /// A Stripe-compatible gateway that honours Idempotency-Key and misbehaves on a fixed rota:
    /// fails before acting, acts then fails, throttles, acts then answers too late, acts then
    /// answers garbage, and sometimes just works.
    final class FaultyGateway: Sendable {
        struct State {
            var requests = 0
            var refundsByKey: [String: String] = [:]
            var refundsByOrder: [String: [String]] = [:]
            var keysByOrder: [String: Set<String>] = [:]
        }
        let state = Mutex(State())

        func handle(_ request: ReceivedRequest) -> FakeReply {
            if request.path != "/v1/refunds" {
                switch request.path {
                case "/v1/sessions":
                    let order = (request.json["verification"] as? [String: Any])?["vendorData"] as? String ?? "?"
                    return .json(201, #"{"status":"success","verification":{"id":"sess-\#(order)","url":"https://veriff.example/v/\#(order)"}}"#)
                case "/v3/mail/send": return FakeReply(status: 202, body: "")
                default: return .json(200, "{}")
                }
            }
            let key = request.headers["Idempotency-Key"] ?? "missing"
            let order = request.form["metadata[order_id]"] ?? "?"
            return state.withLock { s in
                s.requests += 1
                s.keysByOrder[order, default: []].insert(key)
                let fault = s.requests % 6
                if fault == 1 { return .json(500, #"{"error":{"message":"internal"}}"#) }
                if fault == 3 { return FakeReply(status: 429, body: "{}", headers: [("Retry-After", "0")]) }
                let id = s.refundsByKey[key] ?? {
                    let id = "re_\(s.refundsByKey.count + 1)"
                    s.refundsByKey[key] = id
                    s.refundsByOrder[order, default: []].append(id)
                    return id
                }()
                switch fault {
                case 2: return .json(500, #"{"error":{"message":"acted, then failed"}}"#)
                case 4: return FakeReply(status: 200, body: #"{"id":"\#(id)"}"#, delay: .milliseconds(500))
                case 5: return .json(200, "<html>bad gateway</html>")
                default: return .json(200, #"{"id":"\#(id)","object":"refund","status":"succeeded"}"#)
                }
            }
        }
    }

    @Test("12 declined orders, a gateway failing five ways: every refund reaches it under one key, one refund per order",
          arguments: Backend.allCases)
    func exactlyOnceUnderFaults(_ backend: Backend) async throws {
        let gateway = FaultyGateway()
        let fake = FakeProvider { gateway.handle($0) }
        try await withStore(backend) { store in
            try await fake.run { base in
                let clock = ManualClock()
                try await withProviderClient(clock: clock, timeout: 0.25, maxAttempts: 2) { client in
                    let providers = LiveProviders.make(liveSettings(base: base), http: client)
                    let h = Harness(store: store, clock: clock, providers: providers)
                    let orders = (1...12).map { "F\($0)" }
                    for id in orders {
                        _ = try await h.flow.receiveOrder(h.order(id, paymentId: "pi_\(id)"), payload: "{}")
                        _ = try await h.flow.receiveDecision(h.decision(id, .declined))
                    }
                    try await h.drain()
                    for _ in 0..<48 { try await h.advance(by: 600) }

                    let s = gateway.state.withLock { $0 }
                    for id in orders {
                        let session = try #require(try await store.session(orderId: id))
                        #expect(session.refundStatus == .refunded, "order \(id)")
                        #expect(s.refundsByOrder[id]?.count == 1, "gateway-side refunds for \(id)")
                        #expect(s.keysByOrder[id]?.count == 1, "one idempotency key on every attempt for \(id)")
                        let recorded = try await h.outbox(id).filter { $0.operation == .refund }
                        #expect(recorded.count == 1 && recorded.first?.mode == .live)
                        #expect(recorded.first?.idempotencyKey == s.keysByOrder[id]?.first)
                    }
                    #expect(s.requests > orders.count, "faults forced retries")
                    // The refund's failed attempts (a slow machine may also time out the session's opening).
                    let failures = try await store.eventLog(orderId: "F1")
                        .filter { $0.type == "task.failed" && $0.data.contains(#""task":"refund""#) }
                    #expect(failures.allSatisfy { $0.data.contains("payments refund failed") || $0.data.contains("unexpected answer") },
                            "\(failures.map(\.data))")
                }
            }
        }
    }

    @Test("an open circuit postpones the task without using an attempt; a 4xx dead-letters at once with the provider's words")
    func postponeAndPermanent() async throws {
        let mode = Mutex("down")
        let fake = FakeProvider { request in
            guard request.path == "/v1/refunds" else { return .json(200, "{}") }
            return mode.withLock { $0 } == "down"
                ? .json(503, "{}") : .json(400, #"{"error":{"message":"Charge ch_x has already been refunded."}}"#)
        }
        try await withSQLiteStore { store in
            try await fake.run { base in
                let clock = ManualClock()
                try await withProviderClient(clock: clock, maxAttempts: 1, breakerThreshold: 1, breakerCooldown: 300) { client in
                    let live = LiveProviders.make(liveSettings(base: base), http: client)
                    let sandbox = SandboxProviders().providers
                    let providers = Providers(identity: sandbox.identity, email: sandbox.email, payments: live.payments, shop: sandbox.shop)
                    let h = Harness(store: store, clock: clock, providers: providers)
                    _ = try await h.flow.receiveOrder(h.order("P1", paymentId: "ch_x"), payload: "{}")
                    _ = try await h.flow.receiveDecision(h.decision("P1", .declined))
                    try await h.drain()
                    var refund = try #require(try await store.tasks(orderId: "P1").first { $0.kind == "refund" })
                    #expect(refund.state == .retrying && refund.attempts == 1, "the 503 used an attempt and opened the circuit")

                    // Due again while the circuit is open: handed back, attempt not counted, run after the cooldown.
                    let due = refund.scheduledAt
                    clock.advance(by: due.timeIntervalSince(clock.now()))
                    try await h.drain()
                    refund = try #require(try await store.task(id: refund.id))
                    #expect(refund.attempts == 1)
                    #expect(refund.lastError?.contains("circuit open") == true)
                    #expect(refund.scheduledAt > clock.now())
                    #expect(fake.received(at: "/v1/refunds").count == 1)

                    mode.withLock { $0 = "refusing" }
                    try await h.advance(by: 300)
                    refund = try #require(try await store.task(id: refund.id))
                    #expect(refund.state == .dead && refund.attempts == 2)
                    let session = try #require(try await store.session(orderId: "P1"))
                    #expect(session.refundStatus == .refundFailed)
                    let dead = try #require(try await store.eventLog(orderId: "P1").first { $0.type == "task.dead" })
                    #expect(dead.data.contains("already been refunded"))
                }
            }
        }
    }

    @Test("live: a refund for an order without paymentId goes to manual review, and no gateway call is made")
    func refundWithoutPaymentId() async throws {
        let fake = FakeProvider { _ in .json(200, #"{"id":"re_1"}"#) }
        try await withSQLiteStore { store in
            try await fake.run { base in
                let clock = ManualClock()
                try await withProviderClient(clock: clock) { client in
                    let live = LiveProviders.make(liveSettings(base: base), http: client)
                    let sandbox = SandboxProviders().providers
                    let h = Harness(store: store, clock: clock, providers: Providers(
                        identity: sandbox.identity, email: sandbox.email, payments: live.payments, shop: sandbox.shop))
                    _ = try await h.flow.receiveOrder(h.order("N1", paymentId: nil), payload: "{}")
                    _ = try await h.flow.receiveDecision(h.decision("N1", .declined))
                    try await h.drain()
                    #expect(try await store.session(orderId: "N1")?.refundStatus == .refundFailed)
                    #expect(try await store.reviews(limit: 10).contains { $0.orderId == "N1" && $0.reason.contains("no paymentId") })
                    #expect(try await store.eventLog(orderId: "N1").contains { $0.type == "refund.needs_review" })
                    #expect(fake.requests.isEmpty)
                }
            }
        }
    }
}
