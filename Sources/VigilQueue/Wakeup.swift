import Foundation
import Synchronization

/// A one-slot wake-up signal. A `signal()` with nobody waiting is remembered, so a wake-up
/// that races with a worker going to sleep is never lost.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal (or at once if one is pending), or when cancelled.
    public func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

/// Wake-up signals by queue name. Stores fire it after committing new work; workers wait on it.
public final class WakeupHub: Sendable {
    private let signals = Mutex<[String: WakeSignal]>([:])

    public init() {}

    public func signal(for queue: String) -> WakeSignal {
        signals.withLock { signals in
            if let signal = signals[queue] { return signal }
            let signal = WakeSignal()
            signals[queue] = signal
            return signal
        }
    }

    /// Wakes every queue's worker (after a reconnect, when notifications may have been missed).
    public func wakeAll() {
        let all = signals.withLock { Array($0.values) }
        for signal in all { signal.signal() }
    }

    public func wake(queues: some Sequence<String>) {
        for queue in Set(queues) { signal(for: queue).signal() }
    }
}
