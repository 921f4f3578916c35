import Foundation
import Testing
import VigilQueue

@Suite("Retry policy (Cloud Tasks semantics)")
struct RetryPolicyTests {
    @Test("backoff: 10s min, 300s max, 3 doublings → 10, 20, 40, 80, 160, 240, 300, 300")
    func schedule() {
        let q = QueueConfig(name: "q", minBackoff: 10, maxBackoff: 300, maxDoublings: 3)
        #expect((1...8).map { q.backoff(forRetry: $0) } == [10, 20, 40, 80, 160, 240, 300, 300])
    }

    @Test("backoff with no doublings grows linearly by minBackoff")
    func linear() {
        let q = QueueConfig(name: "q", minBackoff: 5, maxBackoff: 1000, maxDoublings: 0)
        #expect((1...4).map { q.backoff(forRetry: $0) } == [5, 10, 15, 20])
    }

    let start = Date(timeIntervalSince1970: 1_000_000)

    @Test("maxAttempts alone: dead after that many attempts")
    func attemptsOnly() {
        let q = QueueConfig(name: "q", maxAttempts: 3, maxRetryDuration: 0, minBackoff: 1, maxBackoff: 10, maxDoublings: 2)
        #expect(q.nextAttempt(afterAttempts: 1, firstAttemptAt: start, now: start) == start.addingTimeInterval(1))
        #expect(q.nextAttempt(afterAttempts: 2, firstAttemptAt: start, now: start) == start.addingTimeInterval(2))
        #expect(q.nextAttempt(afterAttempts: 3, firstAttemptAt: start, now: start) == nil)
    }

    @Test("maxRetryDuration alone: dead once that long has passed since the first attempt")
    func durationOnly() {
        let q = QueueConfig(name: "q", maxAttempts: -1, maxRetryDuration: 100, minBackoff: 1, maxBackoff: 10, maxDoublings: 2)
        #expect(q.nextAttempt(afterAttempts: 50, firstAttemptAt: start, now: start.addingTimeInterval(99)) != nil)
        #expect(q.nextAttempt(afterAttempts: 50, firstAttemptAt: start, now: start.addingTimeInterval(100)) == nil)
    }

    @Test("both limits: retrying stops only when both are reached")
    func both() {
        let q = QueueConfig(name: "q", maxAttempts: 3, maxRetryDuration: 100, minBackoff: 1, maxBackoff: 10, maxDoublings: 2)
        // attempts exhausted, duration not: keep going
        #expect(q.nextAttempt(afterAttempts: 5, firstAttemptAt: start, now: start.addingTimeInterval(50)) != nil)
        // duration exhausted, attempts not: keep going
        #expect(q.nextAttempt(afterAttempts: 2, firstAttemptAt: start, now: start.addingTimeInterval(500)) != nil)
        // both: dead
        #expect(q.nextAttempt(afterAttempts: 3, firstAttemptAt: start, now: start.addingTimeInterval(100)) == nil)
    }

    @Test("both unlimited: retries forever")
    func unlimited() {
        let q = QueueConfig(name: "q", maxAttempts: -1, maxRetryDuration: 0, minBackoff: 1, maxBackoff: 10, maxDoublings: 2)
        #expect(q.nextAttempt(afterAttempts: 10_000, firstAttemptAt: start, now: start.addingTimeInterval(1e9)) != nil)
    }

    @Test("jitter only shortens the wait, by at most its fraction")
    func jitter() {
        let q = QueueConfig(name: "q", maxAttempts: -1, minBackoff: 100, maxBackoff: 100, maxDoublings: 0, jitter: 0.25)
        let longest = q.nextAttempt(afterAttempts: 1, firstAttemptAt: start, now: start, random: 0)
        let shortest = q.nextAttempt(afterAttempts: 1, firstAttemptAt: start, now: start, random: 0.999999)
        #expect(longest == start.addingTimeInterval(100))
        let wait = shortest.map { $0.timeIntervalSince(start) } ?? 0
        #expect(wait > 75 && wait < 76)
    }
}
