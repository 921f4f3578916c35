import Foundation
import Testing
import VigilCore

@Suite("Webhook replay protection")
struct WebhookFreshnessTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("the sending time is read from a top-level timestamp or Veriff's decisionTime; none is none")
    func sentAt() throws {
        func order(_ extra: String) throws -> Date? {
            try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":"1","customerEmail":"a@b.co","orderTotal":1\#(extra)}"#.utf8)).sentAt
        }
        #expect(try order(#","timestamp":1800000000"#) == now)
        #expect(try order(#","timestamp":"2027-01-15T08:00:00Z""#) == Timestamp.parse("2027-01-15T08:00:00Z"))
        #expect(try order("") == nil)
        #expect(throws: PayloadError.self) { try order(#","timestamp":true"#) }
        let veriff = try WebhookParser.decision(from: Data(
            #"{"verification":{"id":"s1","status":"approved","decisionTime":"2027-01-15T08:00:00.000Z"}}"#.utf8))
        #expect(veriff.sentAt == Timestamp.parse("2027-01-15T08:00:00.000Z") && veriff.decidedAt == veriff.sentAt)
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
