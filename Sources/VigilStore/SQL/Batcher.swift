import Synchronization

/// Leader/follower batching: work submitted while a batch runs waits and goes into the next one,
/// so under load batches grow by themselves and alone an item is a batch of one, with no timer
/// and no added latency. It serves group commit (SQLite's single writer joins concurrent write
/// transactions into one, sharing its commit and fsync) and batched task completion (many
/// tasks' completions in one transaction). Each caller is answered only after its batch has
/// run, so nothing is acknowledged before it is durable.
///
/// There is no background task: a caller that finds a lane free becomes a *leader*. It runs its
/// own item together with every one that queued meanwhile, then hands the lead to the next
/// waiting caller, which does the same for the ones that queued during that batch. With one lane
/// (SQLite's single writer) batches run one after another; with several (task completions on
/// PostgreSQL, which has many connections) that many batches run at once, so one batch's round
/// trips and commit do not hold back the next.
public final class Batcher<Item: Sendable>: Sendable {
    /// One queued item.
    struct Job: Sendable {
        let id: UInt64
        let item: Item
        let continuation: CheckedContinuation<Turn, Never>
    }

    /// What a waiting caller is woken with: its answer, or the lead.
    enum Turn: Sendable {
        case lead
        case done(Result<any Sendable, any Error>)
    }

    private struct State {
        var leaders = 0
        var pending: [Job] = []
        var nextId: UInt64 = 0
    }

    private let state = Mutex(State())
    private let commits = Atomic<Int>(0)
    private let transactions = Atomic<Int>(0)
    /// The most items one batch takes; later ones wait for the next batch.
    let maxBatch: Int
    /// Batches that may run at once.
    let lanes: Int

    public init(maxBatch: Int = 256, lanes: Int = 1) {
        self.maxBatch = maxBatch
        self.lanes = max(1, lanes)
    }

    /// Runs `item` in a batch. `runBatch` executes a batch (the leader's own item first) and
    /// returns one result per item, in order.
    public func submit<T: Sendable>(
        _ item: Item,
        runBatch: @Sendable ([Item]) async -> [Result<any Sendable, any Error>]
    ) async throws -> T {
        let id = state.withLock { state in
            state.nextId += 1
            return state.nextId
        }
        let turn: Turn = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
                let leadNow = state.withLock { state -> Bool in
                    if state.leaders < lanes {
                        state.leaders += 1
                        return true
                    }
                    state.pending.append(Job(id: id, item: item, continuation: continuation))
                    return false
                }
                if leadNow { continuation.resume(returning: .lead) }
            }
        } onCancel: {
            // Only a transaction still waiting can be withdrawn; once a leader has taken it, it
            // runs and its caller hears how it went.
            let withdrawn: Job? = state.withLock { state in
                guard let index = state.pending.firstIndex(where: { $0.id == id }) else { return nil }
                return state.pending.remove(at: index)
            }
            withdrawn?.continuation.resume(returning: .done(.failure(CancellationError())))
        }

        let outcome: Result<any Sendable, any Error>
        switch turn {
        case .done(let result):
            outcome = result
        case .lead:
            outcome = await lead(own: item, runBatch: runBatch)
        }
        guard let value = try outcome.get() as? T else {
            throw StoreError("a batched item returned a value of an unexpected type")
        }
        return value
    }

    /// Batches run so far, the transactions they held, and how many wait for the next one.
    public var stats: GroupCommitStats {
        GroupCommitStats(commits: commits.load(ordering: .relaxed), transactions: transactions.load(ordering: .relaxed),
                         waiting: state.withLock { $0.pending.count })
    }

    /// Runs one batch as the leader, answers its followers, and passes the lead on.
    private func lead(
        own: Item,
        runBatch: @Sendable ([Item]) async -> [Result<any Sendable, any Error>]
    ) async -> Result<any Sendable, any Error> {
        let followers: [Job] = state.withLock { state in
            let taken = Array(state.pending.prefix(maxBatch - 1))
            state.pending.removeFirst(taken.count)
            return taken
        }
        let results = await runBatch([own] + followers.map(\.item))
        commits.add(1, ordering: .relaxed)
        transactions.add(results.count, ordering: .relaxed)
        for (job, result) in zip(followers, results.dropFirst()) {
            job.continuation.resume(returning: .done(result))
        }
        let next: Job? = state.withLock { state in
            if state.pending.isEmpty {
                state.leaders -= 1
                return nil
            }
            return state.pending.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return results.first ?? .failure(StoreError("a batch lost an item's result"))
    }
}

/// How well group commit is batching: `transactions / commits` is the mean batch size.
public struct GroupCommitStats: Sendable, Equatable {
    /// SQLite transactions run (each one commit, successful or not).
    public var commits: Int
    /// Callers' transactions those commits held.
    public var transactions: Int
    /// Callers' transactions queued for the next commit.
    public var waiting: Int
}
