import Synchronization

/// A FIFO async mutex: SQLite has one writer, and a transaction's statements must not
/// interleave with another's on the same connection. Waiting is cancellable, so a request that
/// times out behind a long write gives up its place instead of waiting on.
final class AsyncLock: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
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
                    state.waiters.append(Waiter(id: id, continuation: continuation))
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
            waiter?.continuation.resume(throwing: CancellationError())
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
        next?.continuation.resume()
    }

    func withLock<T>(_ body: () async throws -> T) async throws -> T {
        try await lock()
        defer { unlock() }
        return try await body()
    }
}
