import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilFlow
@testable import VigilServer
import VigilStore

/// Retention and erasure: personal data goes, the audit trail and the money facts stay.
@Suite("Customer data lifecycle")
struct DataLifecycleTests {
    @Test("erasing a decided order removes its email, name, payloads and provider requests; keeps state, amounts and timeline; twice is once; a pending one is refused",
          arguments: Backend.allCases)
    func erase(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("E1", total: 12.5), payload: #"{"customerEmail":"E1@example.com","customerName":"Ada"}"#)
            _ = try await h.flow.receiveDecision(h.decision("E1", .approved))
            try await h.drain()
            _ = try await h.flow.receiveOrder(h.order("E2"), payload: "{}")
            #expect(try await store.eraseOrder("E2", at: h.clock.now()) == .pending)
            #expect(try await store.eraseOrder("nope", at: h.clock.now()) == .notFound)
            let events = try await store.eventLog(orderId: "E1").count

            #expect(try await store.eraseOrder("E1", at: h.clock.now()) == .erased)
            #expect(try await store.eraseOrder("E1", at: h.clock.now()) == .alreadyErased)
            let s = try #require(try await store.session(orderId: "E1"))
            #expect(s.customerEmail.isEmpty && s.customerName == nil && s.customerKey == nil && s.verificationURL == nil)
            #expect(s.state == .approved && s.orderTotal == 12.5 && s.paymentId == "ch_1")
            #expect(try await store.webhooks(orderId: "E1", limit: 10).allSatisfy { $0.payload == "{}" })
            let outbox = try await store.outbox(orderId: "E1")
            #expect(!outbox.isEmpty && outbox.allSatisfy { $0.request == "{}" && !($0.response ?? "").contains("@") })
            let timeline = try await store.eventLog(orderId: "E1")
            #expect(timeline.count == events + 1 && timeline.last?.type == "customer.data_erased")
            #expect(try await store.sessions(customerKey: h.config.customerKeys.email("E1@example.com"), limit: 10).isEmpty)
            let keys = h.config.customerKeys.keys(customerId: nil, email: "E1@example.com")
            #expect(try await store.write { tx in try await tx.verifiedCustomer(keys: keys, since: Date(timeIntervalSince1970: 0)) } == nil,
                    "not remembered any more")
        }
    }

    @Test("retention: old finished tasks and webhook payloads go, decided orders past the period are erased, the rest untouched",
          arguments: Backend.allCases)
    func retention(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("R1"), payload: #"{"email":"R1@example.com"}"#)
            _ = try await h.flow.receiveDecision(h.decision("R1", .declined))
            try await h.drain()
            h.clock.advance(by: 31 * 86_400)
            _ = try await h.flow.receiveOrder(h.order("R2"), payload: #"{"email":"R2@example.com"}"#)
            try await h.drain()
            let report = try await DataRetention(store: store, settings: h.flow.settings).run(now: h.clock.now())
            #expect(report.tasksPruned > 0 && report.payloadsRedacted >= 2 && report.ordersErased == 0)
            #expect(try await store.tasks(orderId: "R1").isEmpty, "R1's finished tasks are past 30 days")
            #expect(try await store.tasks(orderId: "R2").isEmpty == false)
            #expect(try await store.webhooks(orderId: "R2", limit: 10).allSatisfy { $0.payload != "{}" })
            #expect(try await store.session(orderId: "R1")?.customerEmail == "R1@example.com", "personal data is kept 90 days")

            h.clock.advance(by: 60 * 86_400)
            let later = try await DataRetention(store: store, settings: h.flow.settings).run(now: h.clock.now())
            #expect(later.ordersErased == 1)
            #expect(try await store.session(orderId: "R1")?.customerEmail == "")
            #expect(try await store.session(orderId: "R2")?.customerEmail == "R2@example.com", "still pending: kept")
            #expect(try await store.eventLog(since: nil, until: nil, afterId: 0, limit: 1000).contains { $0.type == "maintenance.retention" })
        }
    }

    @Test("the hourly maintenance task runs once per hour whichever instance schedules it, and schedules the next")
    func hourly() async throws {
        try await withSQLiteStore { store in
            let h = Harness(store: store)
            try await DataRetention.schedule(store, now: h.clock.now())
            try await DataRetention.schedule(store, now: h.clock.now())  // a second instance
            #expect(try await store.tasks(queue: "timers", state: nil, limit: 10).filter { $0.kind == "maintenance" }.count == 1)
            try await h.drain()
            let tasks = try await store.tasks(queue: "timers", state: nil, limit: 10).filter { $0.kind == "maintenance" }
            #expect(tasks.count == 2 && tasks.filter { $0.state == .succeeded }.count == 1 && tasks.filter { $0.state == .scheduled }.count == 1)
        }
    }

    @Test("the API: erase an order and a customer by email, export by email; pending refused; audited by key, never the email")
    func api() async throws {
        var config = HTTPContractTests.adminConfig
        config.lightspeedWebhookSecrets = []
        try await HTTPContractTests().withApp(config) { client, h in
            for id in ["X1", "X2"] {
                _ = try await h.flow.receiveOrder(OrderEvent(event: "order.created", orderId: id, customerEmail: "eve@example.com",
                                                             orderTotal: 5, currency: "USD", customerName: "Eve", paymentId: "ch"), payload: "{}")
            }
            _ = try await h.flow.receiveDecision(h.decision("X1", .approved))
            try await h.drain()
            func call(_ path: String, _ body: String? = nil) async throws -> TestResponse {
                try await client.executeRequest(uri: path, method: .post, headers: [.authorization: "Bearer t-new", .contentType: "application/json"],
                                                body: body.map { ByteBuffer(string: $0) })
            }
            let export = try await call("/api/v1/customers/export", #"{"email":"EVE@example.com "}"#)
            #expect(export.status == .ok && String(buffer: export.body).contains("X1") && String(buffer: export.body).contains("X2"))
            #expect(try await call("/api/v1/orders/X2/erase").status == .conflict)
            let erased = try await call("/api/v1/customers/erase", #"{"email":"eve@example.com"}"#)
            let text = String(buffer: erased.body)
            #expect(erased.status == .ok && text.contains(#""erased":["X1"]"#) && text.contains(#""pending":["X2"]"#))
            #expect(try await call("/api/v1/orders/X1/erase").status == .ok)
            #expect(try await call("/api/v1/customers/erase", #"{"email":"nope"}"#).status == .badRequest)
            let audit = try await h.store.audit(limit: 20)
            #expect(audit.contains { $0.action == "customer.erase" } && !audit.contains { ($0.target ?? "").contains("eve@") })
        }
    }
}
