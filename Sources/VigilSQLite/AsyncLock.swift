import Synchronization

/// A FIFO async mutex: SQLite has one writer, and a transaction's statements must not
/// interleave with another's on the same connection. Waiting is cancellable, so a request that
/// times out behind a long write gives up its place instead of waiting on.
final class AsyncLock: Sendable {
    private struct Waiter {
        let id: UInt64
        /// Resumes the waiter: with nil when it gets the lock, with an error when it gives up.
        let resume: @Sendable ((any Error)?) -> Void
    }
    private struct State {
        var locked = false
        var waiters: [Waiter] = []
        var nextId: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Takes the lock, or throws `CancellationError` if the task is cancelled while waiting.
    func lock() async throws {
        let id = state.withLock { state in
            state.nextId += 1
            return state.nextId
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let acquired: Bool? = state.withLock { state in
                    if Task.isCancelled { return nil }
                    if !state.locked {
                        state.locked = true
                        return true
                    }
                    state.waiters.append(Waiter(id: id, resume: { error in
                        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                    }))
                    return false
                }
                switch acquired {
                case true?: continuation.resume()
                case nil: continuation.resume(throwing: CancellationError())
                case false?: break
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.resume(CancellationError())
        }
    }

    /// Takes the lock even if the task is cancelled: for a group-commit leader, whose batch holds
    /// other callers' transactions that must run and be answered whatever happens to it.
    func lockIgnoringCancellation() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired: Bool = state.withLock { state in
                if !state.locked {
                    state.locked = true
                    return true
                }
                state.nextId += 1
                state.waiters.append(Waiter(id: state.nextId, resume: { _ in continuation.resume() }))
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    func unlock() {
        // Hand the lock straight to the next waiter so it cannot be overtaken.
        let next: Waiter? = state.withLock { state in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume(nil)
    }

    func withLock<T>(_ body: () async throws -> T) async throws -> T {
        try await lock()
        defer { unlock() }
        return try await body()
    }
}
