import Foundation
import Synchronization

/// Counts failed signature and token checks per source address, so a client guessing secrets, or
/// flooding refused requests to fill the audit log, is answered 429 cheaply (no audit row, no
/// body read) until its window ends. Memory is bounded: a fixed number of addresses is tracked,
/// and a new one evicts the address tracked longest.
///
/// Addresses are the TCP peer's: behind a proxy every request comes from the proxy, so the limit
/// then applies to all callers together; raise `VIGIL_AUTH_FAILURE_LIMIT` or set it to 0 there.
final class FailedAuthLimiter: Sendable {
    /// Failures allowed per source and window; 0 turns the limiter off.
    let limit: Int
    let window: TimeInterval
    let capacity: Int

    private struct Entry {
        var windowStart: Date
        var failures: Int
    }

    private struct Table {
        var entries: [String: Entry] = [:]
        /// Addresses in the order they were first tracked: a ring, `next` the oldest slot.
        var order: [String] = []
        var next = 0
    }

    private let table = Mutex(Table())

    init(limit: Int, window: TimeInterval = 60, capacity: Int = 4096) {
        self.limit = limit
        self.window = window
        self.capacity = max(1, capacity)
    }

    /// How long `source` must wait, when it has used up its failures in the current window.
    func retryAfter(_ source: String?, now: Date) -> TimeInterval? {
        guard limit > 0, let source else { return nil }
        return table.withLock { table -> TimeInterval? in
            guard let entry = table.entries[source], entry.failures >= limit else { return nil }
            let end = entry.windowStart.addingTimeInterval(window)
            return end > now ? end.timeIntervalSince(now) : nil
        }
    }

    /// Counts one failed check from `source`.
    func recordFailure(_ source: String?, now: Date) {
        guard limit > 0, let source else { return }
        table.withLock { table in
            if var entry = table.entries[source] {
                if now >= entry.windowStart.addingTimeInterval(window) || now < entry.windowStart {
                    entry = Entry(windowStart: now, failures: 0)
                }
                entry.failures += 1
                table.entries[source] = entry
                return
            }
            if table.order.count < capacity {
                table.order.append(source)
            } else {
                table.entries[table.order[table.next]] = nil
                table.order[table.next] = source
                table.next = (table.next + 1) % capacity
            }
            table.entries[source] = Entry(windowStart: now, failures: 1)
        }
    }

    /// Addresses tracked now (for tests).
    var tracked: Int { table.withLock { $0.entries.count } }
}

extension Problem {
    static func tooManyFailures(retryAfter seconds: TimeInterval) -> Problem {
        let wait = max(1, Int(seconds.rounded(.up)))
        var problem = Problem(.tooManyRequests, "too-many-failures", "Too many failed authentications",
                              detail: "too many requests from this address failed their signature or token check; retry after \(wait)s with valid credentials")
        problem.headers[.retryAfter] = "\(wait)"
        return problem
    }
}
