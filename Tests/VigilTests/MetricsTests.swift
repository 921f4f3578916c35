import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilProviders
@testable import VigilQueue
@testable import VigilServer
import VigilPostgres
import VigilSQLite
import VigilStore

/// `GET /metrics`, reusing the HTTP contract suite's helpers.
extension HTTPContractTests {
    /// The value of one sample line, `name{labels} value`, matched on the name and every label given.
    static func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[parts.count - 1]) else { continue }
            let head = String(parts[0])
            guard head == name || head.hasPrefix(name + "{") else { continue }
            if labels.allSatisfy({ head.contains("\($0.key)=\"\($0.value)\"") }) { return value }
        }
        return nil
    }

    func metricsText(_ client: any TestClientProtocol) async throws -> String {
        let r = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
        #expect(r.status == .ok)
        #expect(r.headers[.contentType]?.hasPrefix("text/plain") == true)
        return String(buffer: r.body)
    }

    @Test("/metrics: requests by route and status, webhooks by outcome, tasks by queue and outcome, queue depth, lag and dead letters — and they move")
    func metrics() async throws {
        var config = VigilConfig()
        config.lightspeedWebhookSecrets = [Secret("ls")]
        try await withApp(config) { client, h in
            let before = try await metricsText(client)
            #expect(Self.sample(before, "vigil_queue_due_tasks", ["queue": "verification"]) == 0)

            let signed = [("X-Signature", Self.signed("ls", Self.orderBody))]
            #expect(try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody, headers: signed).status == .accepted)
            #expect(try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody, headers: signed).status == .ok)
            #expect(try await post(client, "/api/v1/post-purchase/webhook", Self.orderBody, headers: [("X-Signature", "00")]).status == .unauthorized)
            _ = try await client.executeRequest(uri: "/no/such/path/\(UUID())", method: .get, headers: [:], body: nil)

            h.clock.advance(by: 5)
            let pending = try await metricsText(client)
            #expect(Self.sample(pending, "vigil_webhooks_total", ["provider": "lightspeed", "outcome": "accepted"]) == 1)
            #expect(Self.sample(pending, "vigil_webhooks_total", ["provider": "lightspeed", "outcome": "duplicate"]) == 1)
            #expect(Self.sample(pending, "vigil_webhooks_total", ["provider": "lightspeed", "outcome": "rejected"]) == 1)
            #expect(Self.sample(pending, "vigil_http_requests_total",
                                ["route": "/api/v1/post-purchase/webhook", "status": "202", "method": "POST"]) == 1)
            #expect(Self.sample(pending, "vigil_http_requests_total", ["route": "/api/v1/post-purchase/webhook", "status": "401"]) == 1)
            #expect(Self.sample(pending, "vigil_http_requests_total", ["route": "unmatched", "status": "404"]) == 1,
                    "unknown paths share one label value")
            #expect(Self.sample(pending, "vigil_http_request_duration_seconds_count", ["route": "/api/v1/post-purchase/webhook"]) == 3)
            #expect(Self.sample(pending, "vigil_queue_due_tasks", ["queue": "verification"]) == 1)
            #expect(Self.sample(pending, "vigil_queue_oldest_due_lag_seconds", ["queue": "verification"]) == 5)

            try await h.drain()
            let done = try await metricsText(client)
            #expect(Self.sample(done, "vigil_queue_due_tasks", ["queue": "verification"]) == 0)
            #expect(Self.sample(done, "vigil_tasks_total", ["queue": "verification", "kind": "open_session", "outcome": "succeeded"]) == 1)
            #expect(Self.sample(done, "vigil_tasks_total", ["queue": "email", "kind": "send_email", "outcome": "succeeded"]) == 1)
            #expect(Self.sample(done, "vigil_task_duration_seconds_count", ["queue": "verification"]) == 1)
            #expect(Self.sample(done, "vigil_queue_dead_tasks", ["queue": "email"]) == 0)
            _ = try await deadTask(h, name: "doomed")
            #expect(Self.sample(try await metricsText(client), "vigil_queue_dead_tasks", ["queue": "email"]) == 1)
        }
    }
}

@Suite("Metrics documentation")
struct MetricsDocumentationTests {
    /// The README's row for a metric.
    static func row(_ metric: String) throws -> String {
        let rows = try DefaultsDocumentedTests.readme().split(separator: "\n").map(String.init)
        return try #require(rows.first { $0.hasPrefix("| `\(metric)`") }, "\(metric) is not in the README's metrics table")
    }

    @Test("every label value the code can write is the README's, and the README lists no other")
    func labelValuesMatch() throws {
        func documented(_ metric: String) throws -> Set<String> {
            let row = try Self.row(metric)
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            // The outcomes are the back-quoted words before any explanation in the last cell.
            let last = cells.last ?? ""
            let head = last.components(separatedBy: ". ").first ?? last
            return Set(head.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        }
        let webhooks = try documented("vigil_webhooks_total"), tasks = try documented("vigil_tasks_total")
        #expect(webhooks == Set(WebhookOutcome.allCases.map(\.rawValue)), "\(webhooks.sorted())")
        #expect(tasks == Set(TaskRunOutcome.allCases.map(\.rawValue)), "\(tasks.sorted())")
        #expect(try documented("vigil_provider_requests_total") == Set(ExchangeOutcome.allCases.map(\.rawValue)))
    }

    @Test("every metric the code registers is in the README's table")
    func everyMetricDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var names: Set<String> = []
        for folder in ["Sources/VigilServer", "Sources/VigilQueue", "Sources/VigilProviders"] {
            let files = FileManager.default.enumerator(atPath: root.appendingPathComponent(folder).path)
            while let file = files?.nextObject() as? String {
                guard file.hasSuffix(".swift") else { continue }
                let text = try String(contentsOf: root.appendingPathComponent(folder).appendingPathComponent(file), encoding: .utf8)
                for part in text.components(separatedBy: "label: \"vigil_").dropFirst() {
                    names.insert("vigil_" + (part.split(separator: "\"").first.map(String.init) ?? ""))
                }
            }
        }
        #expect(names.count >= 15)
        let readme = try DefaultsDocumentedTests.readme()
        for name in names {
            let short = name.replacingOccurrences(of: "vigil_db_connections_", with: "_")
            #expect(readme.contains("`\(name)`") || readme.contains("`\(short)`"), "\(name) is not documented in the README")
        }
    }
}
