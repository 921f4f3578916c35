import Foundation
import Synchronization

/// Wall-clock time as the service sees it. Every timer, lease and backoff goes through one of
/// these, so tests can drive a 72-hour flow in milliseconds with `ManualClock`.
public protocol VigilClock: Sendable {
    func now() -> Date
    /// Suspends until `deadline` (as this clock measures it) or until the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The real clock: `Date()` for instants, `TimerSleep` for waiting (a cancelled sleep frees its
/// timer at once; workers' sleeps are cancelled by every wake-up).
public struct SystemClock: VigilClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async throws {
        // Re-check after waking: the wall clock may have been adjusted while we slept.
        while true {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return }
            try await TimerSleep.sleep(for: remaining)
        }
    }
}

/// A clock that only moves when told to. Sleepers wake when `advance` passes their deadline.
public final class ManualClock: VigilClock {
    private struct Sleeper {
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var now: Date
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        var watchers: [(deadline: Date, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let state: Mutex<State>

    public init(now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(now: now))
    }

    public func now() -> Date { state.withLock { $0.now } }

    /// Number of tasks currently suspended in `sleep(until:)`.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func advance(by interval: TimeInterval) {
        advance(to: now().addingTimeInterval(interval))
    }

    public func advance(to date: Date) {
        let due: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            if date > state.now { state.now = date }
            let ready = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in ready.keys { state.sleepers[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// Returns once some task is asleep until exactly `deadline`: lets a test observe when a
    /// worker has gone to sleep, and until when, without sleeping itself.
    public func waitForSleeper(until deadline: Date) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let present: Bool = state.withLock { state in
                if state.sleepers.values.contains(where: { $0.deadline == deadline }) { return true }
                state.watchers.append((deadline, continuation))
                return false
            }
            if present { continuation.resume() }
        }
    }

    public func sleep(until deadline: Date) async throws {
        let id: UInt64 = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, watchers): (Bool, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                    if deadline <= state.now || Task.isCancelled { return (true, []) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    let matched = state.watchers.filter { $0.deadline == deadline }.map(\.continuation)
                    state.watchers.removeAll { $0.deadline == deadline }
                    return (false, matched)
                }
                if resumeNow { continuation.resume() }
                for watcher in watchers { watcher.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}

extension Date {
    /// A time stored as milliseconds since 1970 (SQLite's unit).
    public init(millisecondsSince1970 ms: Int64) {
        self.init(timeIntervalSince1970: TimeInterval(ms) / 1000)
    }
}

/// `body`'s result, or `timeoutError` once `seconds` of real time have passed; `body` is then
/// cancelled. For bounds on I/O (a database, a request), not for domain timers, which use a
/// `VigilClock`.
public func withTimeLimit<T: Sendable>(_ seconds: TimeInterval, orThrow timeoutError: @escaping @Sendable () -> any Error,
                                       _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            // Cancelled when `body` answers first, so its timer must not outlive it.
            try await TimerSleep.sleep(for: seconds)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw timeoutError() }
        return value
    }
}
