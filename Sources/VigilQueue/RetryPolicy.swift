import Foundation

/// Per-queue retry and rate configuration, following Google Cloud Tasks' semantics.
public struct QueueConfig: Sendable, Equatable {
    public var name: String
    /// Attempts (including the first) before a task may be dead-lettered; -1 is unlimited.
    public var maxAttempts: Int
    /// Time since the first attempt before a task may be dead-lettered; 0 is unlimited.
    public var maxRetryDuration: TimeInterval
    public var minBackoff: TimeInterval
    public var maxBackoff: TimeInterval
    public var maxDoublings: Int
    /// Fraction (0...1) of each backoff that is randomised downwards, to spread retries.
    public var jitter: Double
    /// Dispatch rate limit; nil is unlimited.
    public var maxDispatchesPerSecond: Double?
    public var maxBurstSize: Int
    /// Tasks of this queue run at once in one process.
    public var maxConcurrent: Int

    public init(name: String, maxAttempts: Int = 100, maxRetryDuration: TimeInterval = 0,
                minBackoff: TimeInterval = 0.1, maxBackoff: TimeInterval = 3600, maxDoublings: Int = 16,
                jitter: Double = 0, maxDispatchesPerSecond: Double? = nil, maxBurstSize: Int = 100,
                maxConcurrent: Int = 4) {
        self.name = name
        self.maxAttempts = maxAttempts
        self.maxRetryDuration = maxRetryDuration
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        self.maxDoublings = maxDoublings
        self.jitter = jitter
        self.maxDispatchesPerSecond = maxDispatchesPerSecond
        self.maxBurstSize = maxBurstSize
        self.maxConcurrent = maxConcurrent
    }

    /// The wait before retry number `retry` (1 = the first retry), before jitter.
    ///
    /// Cloud Tasks' rule: the first retry waits `minBackoff`; the interval doubles `maxDoublings`
    /// times, then grows linearly by `2^maxDoublings × minBackoff`, capped at `maxBackoff`.
    public func backoff(forRetry retry: Int) -> TimeInterval {
        let n = max(retry, 1)
        let doublings = max(maxDoublings, 0)
        let interval: Double
        if n - 1 <= doublings {
            interval = minBackoff * pow(2, Double(n - 1))
        } else {
            interval = minBackoff * pow(2, Double(doublings)) * Double(n - doublings)
        }
        return min(interval, maxBackoff)
    }

    /// After a failed attempt: when to try again, or nil when the task is dead.
    ///
    /// A task stops only when it has had `maxAttempts` attempts *and* `maxRetryDuration` has
    /// passed since its first attempt; a limit set to unlimited leaves it to the other, and
    /// with both unlimited the task retries forever.
    public func nextAttempt(afterAttempts attempts: Int, firstAttemptAt: Date, now: Date,
                            random: Double = Double.random(in: 0..<1)) -> Date? {
        let attemptsExhausted: Bool? = maxAttempts < 0 ? nil : attempts >= maxAttempts
        let durationExhausted: Bool? = maxRetryDuration <= 0
            ? nil : now.timeIntervalSince(firstAttemptAt) >= maxRetryDuration
        let stop: Bool
        switch (attemptsExhausted, durationExhausted) {
        case let (a?, d?): stop = a && d
        case let (a?, nil): stop = a
        case let (nil, d?): stop = d
        case (nil, nil): stop = false
        }
        if stop { return nil }
        var delay = backoff(forRetry: attempts)
        if jitter > 0 { delay *= 1 - min(max(jitter, 0), 1) * random }
        return now.addingTimeInterval(delay)
    }
}
