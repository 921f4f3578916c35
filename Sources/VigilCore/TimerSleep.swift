import Dispatch
import Foundation
import Synchronization

/// A real-time sleep whose timer goes away the moment it is cancelled.
///
/// `Task.sleep` keeps a cancelled sleep's task and timer alive until the original deadline would
/// have passed (swiftlang/swift#60441). Vigil cancels sleeps all the time: every request runs
/// under a timeout that is cancelled when it answers, every running task under a lease
/// heartbeat, and every enqueue wakes a worker out of a sleep of up to five minutes. Under load
/// that held memory in proportion to traffic × timeout. A Dispatch timer source, by contrast, is
/// removed from the timer queue when cancelled, and its memory is released with it.
public enum TimerSleep {
    /// Counts the timers armed by the sleeps of a task and its children that have neither fired
    /// nor been cancelled: a test binds one to `tracker` to see that none is left behind.
    public final class ArmedTimers: Sendable {
        fileprivate let count = Atomic<Int>(0)
        public init() {}
        public var value: Int { count.load(ordering: .relaxed) }
    }

    @TaskLocal public static var tracker: ArmedTimers?

    /// Suspends for `seconds` of real time; throws `CancellationError` at once if the task is
    /// cancelled (before or during the sleep).
    public static func sleep(for seconds: TimeInterval) async throws {
        try Task.checkCancellation()
        guard seconds > 0 else { return }
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                sleeper.start(continuation, seconds: seconds)
            }
        } onCancel: {
            sleeper.finish(.failure(CancellationError()))
        }
    }

    /// One sleep: its timer and the continuation it resumes, exactly once.
    private final class Sleeper: Sendable {
        private enum State {
            case idle
            case sleeping(CheckedContinuation<Void, any Error>, any DispatchSourceTimer, ArmedTimers?)
            case cancelledEarly
            case done
        }

        private let state = Mutex(State.idle)

        func start(_ continuation: CheckedContinuation<Void, any Error>, seconds: TimeInterval) {
            let cancelled: Bool = state.withLock { state in
                if case .cancelledEarly = state {
                    state = .done
                    return true
                }
                // Armed under the lock: a timer that fires at once waits here until the state
                // holds it.
                let timer = DispatchSource.makeTimerSource(queue: .global())
                timer.setEventHandler { [self] in finish(.success(())) }
                timer.schedule(deadline: .now() + .nanoseconds(Int(min(seconds, 365 * 86_400) * 1e9)))
                timer.activate()
                let tracker = TimerSleep.tracker
                tracker?.count.add(1, ordering: .relaxed)
                state = .sleeping(continuation, timer, tracker)
                return false
            }
            if cancelled { continuation.resume(throwing: CancellationError()) }
        }

        func finish(_ result: Result<Void, any Error>) {
            let sleeping: (CheckedContinuation<Void, any Error>, any DispatchSourceTimer, ArmedTimers?)? = state.withLock { state in
                switch state {
                case .idle:
                    state = .cancelledEarly
                    return nil
                case .sleeping(let continuation, let timer, let tracker):
                    state = .done
                    return (continuation, timer, tracker)
                case .cancelledEarly, .done:
                    return nil
                }
            }
            guard let (continuation, timer, tracker) = sleeping else { return }
            // Cancelling removes the timer now; clearing the handler breaks its cycle with self.
            timer.cancel()
            timer.setEventHandler(handler: nil)
            tracker?.count.subtract(1, ordering: .relaxed)
            continuation.resume(with: result)
        }
    }
}
