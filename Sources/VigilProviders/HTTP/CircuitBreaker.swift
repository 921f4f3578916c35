import Foundation
import Synchronization

/// One provider's circuit breaker. After `threshold` consecutive failures (connection errors,
/// timeouts, 5xx) the circuit opens and calls fail at once for `cooldown`; then one trial call is
/// let through (half-open): success closes the circuit, failure opens it again. Pure state over
/// an injected time, so tests drive it with a manual clock.
public final class CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Date)
        /// A trial call is in flight; others wait for its outcome.
        case halfOpen
    }

    public let threshold: Int
    public let cooldown: TimeInterval
    private let state = Mutex<State>(.closed(failures: 0))

    public init(threshold: Int = 5, cooldown: TimeInterval = 30) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
    }

    public var current: State { state.withLock { $0 } }

    /// Nil when a call may go ahead; otherwise the time before which it should not be tried.
    public func admit(now: Date) -> Date? {
        state.withLock { state in
            switch state {
            case .closed: return nil
            case .open(let until) where now >= until:
                state = .halfOpen
                return nil
            case .open(let until): return until
            case .halfOpen: return now.addingTimeInterval(min(cooldown, 5))
            }
        }
    }

    public func recordSuccess() {
        state.withLock { $0 = .closed(failures: 0) }
    }

    public func recordFailure(now: Date) {
        state.withLock { state in
            switch state {
            case .closed(let failures) where failures + 1 >= threshold:
                state = .open(until: now.addingTimeInterval(cooldown))
            case .closed(let failures):
                state = .closed(failures: failures + 1)
            case .halfOpen, .open:
                state = .open(until: now.addingTimeInterval(cooldown))
            }
        }
    }
}
