import Foundation

/// How one provider call is retried before the task queue takes over: exponential backoff with
/// full jitter (a random delay between zero and the capped exponential), for timeouts, connection
/// errors, 408, 429 (honouring `Retry-After`) and 5xx; never for other 4xx, which would fail the
/// same way again.
public struct CallRetryPolicy: Sendable, Equatable {
    /// Attempts within one call, the first included.
    public var maxAttempts: Int
    public var baseDelay: TimeInterval
    public var maxDelay: TimeInterval
    /// A `Retry-After` longer than this is not waited out in the call: the task is rescheduled
    /// for then instead, so a worker slot is not held for minutes.
    public var maxInCallWait: TimeInterval

    public init(maxAttempts: Int = 3, baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 8,
                maxInCallWait: TimeInterval = 10) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxInCallWait = maxInCallWait
    }

    /// Delay before attempt `attempt + 1` after `attempt` failed (1-based); `random` in [0, 1).
    public func delay(afterAttempt attempt: Int, random: Double) -> TimeInterval {
        let exponential = baseDelay * pow(2, Double(max(0, min(attempt - 1, 30))))
        return min(maxDelay, exponential) * random
    }

    /// Whether a response status is worth another try.
    public static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || status >= 500
    }

    /// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
    public static func retryAfter(_ value: String?, now: Date) -> TimeInterval? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return TimeInterval(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
