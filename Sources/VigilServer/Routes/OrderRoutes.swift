import Foundation
import Hummingbird
import VigilCore
import VigilStore

/// The admin API's orders: one order with its tasks, timeline and provider calls, and the listing.
struct OrderRoutes {
    let access: AdminAccess
    var services: AppServices { access.services }

    func register(on router: RouteTable) {
        router.get("/api/v1/orders/:orderId") { request, context in
            let orderId = try context.pathParameter("orderId")
            return try await access.read(request, context: context, action: "order.read", target: orderId) {
                try await order(orderId)
            }
        }
        router.get("/api/v1/orders") { request, context in
            let query = request.uri.queryParameters
            let state: SessionState? = try AdminAccess.choice(query.get("status"), name: "status")
            let now = services.clock.now()
            let since = try AdminAccess.time(query.get("since"), name: "since", now: now)
            let until = try AdminAccess.time(query.get("until"), name: "until", now: now)
            let cursor = try query.get("cursor").flatMap { $0.isEmpty ? nil : $0 }.map { text in
                guard let cursor = OrderCursor.decode(text) else { throw Problem.badRequest("cursor is not one this API returned") }
                return cursor
            }
            let limit = try AdminAccess.limit(query.get("limit"))
            return try await access.read(request, context: context, action: "orders.list") {
                let page = try await services.store.sessions(state: state, since: since, until: until, after: cursor, limit: limit)
                let next = page.count == limit ? page.last.map { OrderCursor.encode(SessionCursor(createdAt: $0.createdAt, orderId: $0.orderId)) } : nil
                return OrderPage(orders: page.map(SessionSummary.init), nextCursor: next)
            }
        }
    }

    func order(_ orderId: String) async throws -> OrderDetail {
        try await Self.order(orderId, in: services.store)
    }

    /// The admin API's view of one order; 404 problem when there is none.
    static func order(_ orderId: String, in store: any Store) async throws -> OrderDetail {
        guard let s = try await store.session(orderId: orderId) else {
            throw Problem.notFound("no verification session for order \(orderId)")
        }
        let tasks = try await store.tasks(orderId: orderId)
        let taskById = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return OrderDetail(
            orderId: s.orderId, status: s.state, refundStatus: s.refundStatus, deadline: s.deadline, createdAt: s.createdAt,
            reminderAt: s.reminderAt, verificationUrl: s.verificationURL, decidedAt: s.decidedAt, reason: s.outcomeReason,
            minimumAge: s.minimumAge, ageRule: s.ageRule, ofAge: s.ofAge, review: s.reviewReason, region: s.region,
            customerEmail: s.customerEmail,
            verificationId: s.verificationId, tasks: tasks.map(TaskView.init),
            timeline: try await store.eventLog(orderId: orderId).map(TimelineEntry.init),
            outbox: try await store.outbox(orderId: orderId).map(OutboxEntry.init),
            attempts: try await store.attempts(orderId: orderId).map { AttemptView($0, task: taskById[$0.taskId]) })
    }
}

/// The order listing's opaque cursor: base64url of "microseconds|orderId".
enum OrderCursor {
    static func encode(_ c: SessionCursor) -> String {
        let micros = Int64((c.createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros)|\(c.orderId)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> SessionCursor? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard text.count <= 1024, let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8),
              let bar = plain.firstIndex(of: "|"), let micros = Int64(plain[..<bar]) else { return nil }
        let createdAt = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        guard createdAt >= Timestamp.earliest, createdAt <= Timestamp.latest else { return nil }
        return SessionCursor(createdAt: createdAt, orderId: String(plain[plain.index(after: bar)...]))
    }
}

