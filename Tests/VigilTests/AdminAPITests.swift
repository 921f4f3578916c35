import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilQueue
import VigilServer
import VigilPostgres
import VigilSQLite
import VigilStore

/// The admin task, review and audit endpoints (reusing the HTTP contract suite's helpers).
extension HTTPContractTests {
    static var adminConfig: VigilConfig {
        var config = VigilConfig()
        config.adminTokens = [Secret("t-new"), Secret("t-old")]
        config.lightspeedWebhookSecrets = [Secret("ls")]
        return config
    }

    func admin(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String,
               token: String? = "t-new") async throws -> TestResponse {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        headers[.userAgent] = "vigil-tests/1"
        return try await client.executeRequest(uri: path, method: method, headers: headers, body: nil)
    }

    /// A task in the `dead` state, as a provider that kept failing would leave it.
    func deadTask(_ h: Harness, name: String) async throws -> Int64 {
        let now = h.clock.now()
        _ = try await h.store.write { tx in try await tx.enqueue(NewTask(name: name, queue: "email", kind: "k", runAt: now), now: now) }
        let claim = try #require(try await h.store.claimTasks(queue: "email", limit: 1, owner: "w", now: now, leaseDuration: 60).first)
        _ = try await h.store.failTask(claim, error: "provider said 500", retryAt: nil, now: now) { _ in }
        return claim.task.id
    }

    @Test("admin tasks: listed with queue and state filters; bad filters are 400; a token is required")
    func adminTaskList() async throws {
        try await withApp(Self.adminConfig) { client, h in
            _ = try await h.flow.receiveOrder(h.order("T1"), payload: "{}")
            let dead = try await deadTask(h, name: "doomed")
            let all = try json(try await admin(client, .get, "/api/v1/tasks"))["tasks"] as? [[String: Any]]
            #expect(all?.count == 5, "open the session, hold the order, reminder, deadline, and the dead one")
            let timers = try json(try await admin(client, .get, "/api/v1/tasks?queue=timers"))["tasks"] as? [[String: Any]]
            #expect(timers?.count == 2 && timers?.allSatisfy { $0["queue"] as? String == "timers" } == true)
            let deadOnes = try json(try await admin(client, .get, "/api/v1/tasks?state=dead"))["tasks"] as? [[String: Any]]
            #expect(deadOnes?.map { $0["id"] as? Int64 ?? Int64($0["id"] as? Int ?? 0) } == [dead])
            #expect(deadOnes?.first?["lastError"] as? String == "provider said 500")
            let limited = try json(try await admin(client, .get, "/api/v1/tasks?limit=1"))["tasks"] as? [[String: Any]]
            #expect(limited?.count == 1)
            try expectProblem(try await admin(client, .get, "/api/v1/tasks?state=zombie"), .badRequest)
            try expectProblem(try await admin(client, .get, "/api/v1/tasks?limit=0"), .badRequest)
            try expectProblem(try await admin(client, .get, "/api/v1/tasks", token: nil), .unauthorized)
            try expectProblem(try await admin(client, .get, "/api/v1/tasks", token: "t-wrong"), .unauthorized)
        }
    }

    @Test("admin retry re-drives a dead task once (409 after, 404 unknown, 400 malformed); cancel is idempotent")
    func adminRetryAndCancel() async throws {
        try await withApp(Self.adminConfig) { client, h in
            let dead = try await deadTask(h, name: "doomed")
            let retried = try await admin(client, .post, "/api/v1/tasks/\(dead)/retry")
            #expect(retried.status == .ok)
            let body = try json(retried)
            #expect(body["retried"] as? Bool == true)
            #expect((body["task"] as? [String: Any])?["state"] as? String == "scheduled")
            #expect(try await h.store.task(id: dead)?.attempts == 0)
            try expectProblem(try await admin(client, .post, "/api/v1/tasks/\(dead)/retry"), .conflict)
            try expectProblem(try await admin(client, .post, "/api/v1/tasks/999999/retry"), .notFound)
            try expectProblem(try await admin(client, .post, "/api/v1/tasks/abc/retry"), .badRequest)

            let cancelled = try await admin(client, .delete, "/api/v1/tasks/\(dead)")
            #expect(cancelled.status == .ok)
            #expect(try json(cancelled)["cancelled"] as? Bool == true)
            #expect(try await h.store.task(id: dead)?.state == .cancelled)
            let again = try await admin(client, .delete, "/api/v1/tasks/\(dead)")
            #expect(again.status == .ok)
            #expect(try json(again)["cancelled"] as? Bool == false)
            try expectProblem(try await admin(client, .delete, "/api/v1/tasks/999999"), .notFound)
        }
    }

    @Test("admin reviews list late and orphan decisions")
    func adminReviews() async throws {
        try await withApp(Self.adminConfig) { client, h in
            _ = try await h.flow.receiveDecision(
                DecisionEvent(eventId: "evt_orphan", orderId: nil, verificationId: "v-nobody", decision: .approved))
            let reviews = try json(try await admin(client, .get, "/api/v1/reviews"))["reviews"] as? [[String: Any]]
            #expect(reviews?.count == 1)
            #expect(reviews?.first?["eventId"] as? String == "evt_orphan")
        }
    }

    @Test("the audit log records admin actions and refused authentications with actor id, IP, user agent and request id — never a token")
    func auditLog() async throws {
        try await withApp(Self.adminConfig) { client, h in
            let dead = try await deadTask(h, name: "doomed")
            _ = try await admin(client, .post, "/api/v1/tasks/\(dead)/retry")
            _ = try await admin(client, .get, "/api/v1/tasks", token: "t-wrong")
            _ = try await admin(client, .get, "/api/v1/tasks", token: nil)
            _ = try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody, headers: [("X-Signature", "00")])

            let rows = try await h.store.audit(limit: 10)
            let byAction = rows.map { "\($0.action) \($0.actor) \($0.outcome)" }
            let newID = Secret("t-new").publicID
            #expect(byAction.contains("task.retry token:\(newID) retried"))
            #expect(byAction.contains("tasks.list unknown-token rejected:bad_token"))
            #expect(byAction.contains("tasks.list anonymous rejected:no_token"))
            #expect(byAction.contains("webhook.authenticate webhook rejected:bad_signature"))
            let retry = try #require(rows.first { $0.action == "task.retry" })
            #expect(retry.target == "\(dead)" && retry.userAgent == "vigil-tests/1" && retry.requestId?.isEmpty == false)

            let served = try await admin(client, .get, "/api/v1/audit?limit=50")
            #expect(served.status == .ok)
            let text = String(buffer: served.body)
            #expect(text.contains(newID))
            for secret in ["t-new", "t-old", "t-wrong"] {
                #expect(!text.contains("\"\(secret)\"") && !text.contains(" \(secret)"), "a token leaked into the audit log")
            }
        }
    }

    @Test("admin event export streams NDJSON in id order with stable fields, filtered by time")
    func adminEventExport() async throws {
        try await withApp(Self.adminConfig) { client, h in
            _ = try await h.flow.receiveOrder(h.order("E1"), payload: "{}")
            h.clock.advance(by: 3600)
            _ = try await h.flow.receiveOrder(h.order("E2"), payload: "{}")
            let all = try await admin(client, .get, "/api/v1/events")
            #expect(all.status == .ok)
            #expect(all.headers[.contentType] == "application/x-ndjson")
            let rows = try String(buffer: all.body).split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(rows.count >= 2)
            #expect(rows.allSatisfy { $0["id"] is Int && $0["type"] is String && $0["at"] is String && $0.keys.contains("orderId") })
            let ids = rows.compactMap { $0["id"] as? Int }
            #expect(ids == ids.sorted())
            let recent = try await admin(client, .get, "/api/v1/events?since=30m")
            let recentOrders = Set(String(buffer: recent.body).split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["orderId"] as? String
            })
            #expect(recentOrders == ["E2"])
            try expectProblem(try await admin(client, .get, "/api/v1/events?since=yesterday-ish"), .badRequest)
            try expectProblem(try await admin(client, .get, "/api/v1/events", token: nil), .unauthorized)
        }
    }

    @Test("Idempotency-Key: concurrent admin requests with one key run once; later ones get the same answer; reuse elsewhere is 422")
    func adminIdempotency() async throws {
        try await withApp(Self.adminConfig) { client, h in
            let dead = try await deadTask(h, name: "doomed")
            func retry(_ key: String, _ id: Int64) async throws -> TestResponse {
                try await client.executeRequest(uri: "/api/v1/tasks/\(id)/retry", method: .post, headers: [
                    .authorization: "Bearer t-new", HTTPField.Name("Idempotency-Key")!: key,
                ], body: nil)
            }
            let responses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String, Bool).self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        let r = try await retry("key-1", dead)
                        return (r.status, String(buffer: r.body), r.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let fresh = responses.filter { $0.0 == .ok && !$0.2 }
            #expect(fresh.count == 1, "the request ran once")
            #expect(responses.allSatisfy { $0.0 == .ok || $0.0 == .conflict }, "the others were replayed or told to wait")
            let retried = try await h.store.audit(limit: 50).filter { $0.action == "task.retry" && $0.outcome == "retried" }
            #expect(retried.count == 1)

            let later = try await retry("key-1", dead)
            #expect(later.status == .ok)
            #expect(later.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(String(buffer: later.body) == fresh.first?.1)

            // Without the key the same retry is a plain request: the task is no longer dead.
            try expectProblem(try await admin(client, .post, "/api/v1/tasks/\(dead)/retry"), .conflict)
            // A client error is stored and replayed too.
            let missing = try await retry("key-2", 999_999)
            try expectProblem(missing, .notFound)
            #expect(try await retry("key-2", 999_999).headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            try expectProblem(try await retry("key-1", 999_999), .unprocessableContent)
        }
    }

    @Test("admin order listing: newest first, filtered by status and time, paged by cursor without gaps or repeats")
    func adminOrderListing() async throws {
        try await withApp(Self.adminConfig) { client, h in
            for i in 1...7 {
                _ = try await h.flow.receiveOrder(h.order("L\(i)"), payload: "{}")
                h.clock.advance(by: 60)
            }
            _ = try await h.flow.receiveDecision(
                h.decision("L3", .approved, id: "e-L3"))
            var seen: [String] = []
            var cursor: String?
            repeat {
                let path = "/api/v1/orders?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let body = try json(try await admin(client, .get, path))
                seen += (body["orders"] as? [[String: Any]] ?? []).compactMap { $0["orderId"] as? String }
                cursor = body["nextCursor"] as? String
            } while cursor != nil && seen.count < 20
            #expect(seen == ["L7", "L6", "L5", "L4", "L3", "L2", "L1"])
            let approved = try json(try await admin(client, .get, "/api/v1/orders?status=approved"))["orders"] as? [[String: Any]]
            #expect(approved?.compactMap { $0["orderId"] as? String } == ["L3"])
            let recent = try json(try await admin(client, .get, "/api/v1/orders?since=150s"))["orders"] as? [[String: Any]]
            #expect(recent?.compactMap { $0["orderId"] as? String } == ["L7", "L6"])
            try expectProblem(try await admin(client, .get, "/api/v1/orders?status=lost"), .badRequest)
            try expectProblem(try await admin(client, .get, "/api/v1/orders?cursor=%%%"), .badRequest)
            try expectProblem(try await admin(client, .get, "/api/v1/orders?until=someday"), .badRequest)
        }
    }
}
