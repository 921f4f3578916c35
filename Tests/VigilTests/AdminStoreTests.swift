import Foundation
import Testing
import VigilCore
import VigilQueue
import VigilPostgres
import VigilSQLite
import VigilStore

/// The store's admin side, the same on both backends.
@Suite("Admin store on SQLite and PostgreSQL")
struct AdminStoreTests {
    @Test("idempotency keys: first claim wins, then in progress, then the stored answer; another request is a mismatch", arguments: Backend.allCases)
    func idempotencyKeys(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let now = Date()
            #expect(try await store.claimIdempotencyKey("k", scope: "POST /a", actor: "token:x", now: now) == .claimed)
            #expect(try await store.claimIdempotencyKey("k", scope: "POST /a", actor: "token:x", now: now) == .inProgress)
            #expect(try await store.claimIdempotencyKey("k", scope: "POST /b", actor: "token:x", now: now) == .mismatch(scope: "POST /a"))
            try await store.answerIdempotencyKey("k", status: 200, body: #"{"ok":true}"#)
            try await store.releaseIdempotencyKey("k")
            #expect(try await store.claimIdempotencyKey("k", scope: "POST /a", actor: "token:y", now: now)
                    == .answered(status: 200, body: #"{"ok":true}"#), "an answered key is kept")
            #expect(try await store.claimIdempotencyKey("f", scope: "POST /a", actor: "token:x", now: now) == .claimed)
            try await store.releaseIdempotencyKey("f")
            #expect(try await store.claimIdempotencyKey("f", scope: "POST /a", actor: "token:x", now: now) == .claimed,
                    "a released key can be claimed again")
        }
    }

    @Test("audit rows, task by id and queue figures", arguments: Backend.allCases)
    func auditAndStats(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let entry = AuditRecord(at: now, actor: "token:abc", action: "task.retry", target: "7", outcome: "retried",
                                    ip: "127.0.0.1", userAgent: "ua", requestId: "r1")
            try await store.write { tx in try await tx.appendAudit(entry) }
            let rows = try await store.audit(limit: 10)
            #expect(rows.count == 1)
            var read = try #require(rows.first)
            read.id = 0
            #expect(read == entry)

            try await store.write { tx in
                _ = try await tx.enqueue(NewTask(name: "due", queue: "q", kind: "k", runAt: now.addingTimeInterval(-30)), now: now)
                _ = try await tx.enqueue(NewTask(name: "later", queue: "q", kind: "k", runAt: now.addingTimeInterval(3600)), now: now)
            }
            let stats = try await store.queueStats(queues: ["q", "empty"], now: now)
            #expect(stats == [
                QueueStat(queue: "q", due: 1, oldestDue: now.addingTimeInterval(-30), running: 0, dead: 0),
                QueueStat(queue: "empty", due: 0, oldestDue: nil, running: 0, dead: 0),
            ])
            let due = try #require(try await store.task(named: "due"))
            #expect(try await store.task(id: due.id)?.name == "due")
            #expect(try await store.task(id: 999_999) == nil)
        }
    }

    @Test("sessions list newest first with state, time and cursor", arguments: Backend.allCases)
    func sessionListing(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            for i in 1...5 {
                _ = try await h.flow.receiveOrder(h.order("S\(i)"), payload: "{}")
                h.clock.advance(by: 0.0015)
            }
            let first = try await store.sessions(state: .pending, since: nil, until: nil, after: nil, limit: 2)
            #expect(first.map(\.orderId) == ["S5", "S4"])
            let last = try #require(first.last)
            let next = try await store.sessions(state: nil, since: nil, until: nil,
                                                after: SessionCursor(createdAt: last.createdAt, orderId: last.orderId), limit: 10)
            #expect(next.map(\.orderId) == ["S3", "S2", "S1"])
            #expect(try await store.sessions(state: .approved, since: nil, until: nil, after: nil, limit: 10).isEmpty)
            let window = try await store.sessions(state: nil, since: first[1].createdAt, until: first[0].createdAt, after: nil, limit: 10)
            #expect(window.map(\.orderId) == ["S4"])
        }
    }
}
