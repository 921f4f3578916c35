import Foundation
import Testing
import VigilCore

@Suite("Webhook replay protection")
struct WebhookFreshnessTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("the sending time is read from a top-level timestamp or Veriff's decisionTime; none is none")
    func sentAt() {
        #expect(WebhookFreshness.sentAt(Data(#"{"timestamp":1800000000}"#.utf8)) == now)
        #expect(WebhookFreshness.sentAt(Data(#"{"timestamp":"2027-01-15T08:00:00Z"}"#.utf8)) == Timestamp.parse("2027-01-15T08:00:00Z"))
        #expect(WebhookFreshness.sentAt(Data(#"{"verification":{"decisionTime":"2027-01-15T08:00:00.000Z"}}"#.utf8)) != nil)
        #expect(WebhookFreshness.sentAt(Data(#"{"orderId":"1"}"#.utf8)) == nil)
        #expect(WebhookFreshness.sentAt(Data(#"{"timestamp":true}"#.utf8)) == nil)
        #expect(WebhookFreshness.sentAt(Data("not json".utf8)) == nil)
    }

    @Test("fresh passes; older than the limit or dated in the future is refused with a reason")
    func limits() {
        let week: TimeInterval = 7 * 86400
        #expect(WebhookFreshness.problem(sentAt: now.addingTimeInterval(-3600), now: now, maxAge: week) == nil)
        #expect(WebhookFreshness.problem(sentAt: now.addingTimeInterval(120), now: now, maxAge: week) == nil, "small clock skew is fine")
        #expect(WebhookFreshness.problem(sentAt: now.addingTimeInterval(-week - 1), now: now, maxAge: week)?.contains("replay") == true)
        #expect(WebhookFreshness.problem(sentAt: now.addingTimeInterval(3600), now: now, maxAge: week)?.contains("future") == true)
    }
}
