import Foundation

/// An error that tells the task queue when the work may be tried again, overriding the queue's
/// own backoff. Provider calls throw it when the provider says when to come back (`Retry-After`)
/// or when the provider is known to be down (an open circuit).
public protocol RetryTiming: Error {
    /// Do not try again before this time.
    var retryNotBefore: Date { get }
    /// False when the attempt never reached the provider: the queue hands the task back without
    /// counting the attempt, so an outage postpones work instead of using up its retries.
    var countsAsAttempt: Bool { get }
}
