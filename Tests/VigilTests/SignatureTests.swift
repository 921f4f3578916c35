import Foundation
import Testing
import VigilCore

@Suite("Webhook signatures")
struct SignatureTests {
    let body = Data(#"{"event":"order.created","orderId":"1"}"#.utf8)
    let secret = Secret("s3cret")

    @Test("a signature made with the secret verifies")
    func valid() {
        let sig = WebhookSignature.sign(body, secret: secret)
        #expect(sig.count == 64)
        #expect(WebhookSignature.isValid(sig, body: body, secrets: [secret]))
        #expect(WebhookSignature.isValid(sig.uppercased(), body: body, secrets: [secret]))
        #expect(WebhookSignature.isValid("sha256=\(sig)", body: body, secrets: [secret]))
    }

    @Test("known vector: HMAC-SHA256 of the RFC 4231 test case 2")
    func knownVector() {
        let sig = WebhookSignature.sign(Data("what do ya want for nothing?".utf8), secret: Secret("Jefe"))
        #expect(sig == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("a changed body, a wrong secret, or garbage does not verify")
    func invalid() {
        let sig = WebhookSignature.sign(body, secret: secret)
        var tampered = body
        tampered.append(0x20)
        #expect(!WebhookSignature.isValid(sig, body: tampered, secrets: [secret]))
        #expect(!WebhookSignature.isValid(sig, body: body, secrets: [Secret("other")]))
        #expect(!WebhookSignature.isValid("", body: body, secrets: [secret]))
        #expect(!WebhookSignature.isValid("zz", body: body, secrets: [secret]))
        #expect(!WebhookSignature.isValid(String(sig.dropLast(2)), body: body, secrets: [secret]))
        #expect(!WebhookSignature.isValid(sig, body: body, secrets: []))
    }

    @Test("during rotation any configured secret verifies")
    func rotation() {
        let old = Secret("old"), new = Secret("new")
        #expect(WebhookSignature.isValid(WebhookSignature.sign(body, secret: old), body: body, secrets: [new, old]))
        #expect(WebhookSignature.isValid(WebhookSignature.sign(body, secret: new), body: body, secrets: [new, old]))
        #expect(!WebhookSignature.isValid(WebhookSignature.sign(body, secret: Secret("retired")), body: body, secrets: [new, old]))
    }

    @Test("an empty body has a signature too, and only its own verifies")
    func emptyBody() {
        let empty = Data()
        let sig = WebhookSignature.sign(empty, secret: secret)
        #expect(WebhookSignature.isValid(sig, body: empty, secrets: [secret]))
        #expect(!WebhookSignature.isValid(sig, body: body, secrets: [secret]))
    }

    @Test("bearer tokens match in constant time, any of several")
    func tokens() {
        let tokens = [Secret("alpha"), Secret("beta")]
        #expect(ConstantTime.match("beta", among: tokens) == 1)
        #expect(ConstantTime.match("alpha", among: tokens) == 0)
        #expect(ConstantTime.match("alph", among: tokens) == nil)
        #expect(ConstantTime.match("", among: tokens) == nil)
    }

    @Test("derived ids are stable per key and distinct across many keys")
    func derivedIds() {
        let ids = (0..<2_000).map { IdempotencyKey.uuid(from: IdempotencyKey.forTask(named: "order:\($0):open_session")) }
        #expect(Set(ids).count == ids.count)
        #expect(ids[0] == IdempotencyKey.uuid(from: IdempotencyKey.forTask(named: "order:0:open_session")))
        #expect(ids[0].count == 36 && ids[0].split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
    }

    @Test("secrets never print themselves")
    func redaction() {
        let s = Secret("hunter2")
        #expect("\(s)" == "<redacted>")
        #expect(String(reflecting: s) == "<redacted>")
        #expect(!"\([s])".contains("hunter2"))
    }
}
