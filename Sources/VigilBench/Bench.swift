import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import VigilCore
import VigilFlow
import VigilPostgres
import VigilSQLite
import VigilStore

/// Benchmarks for docs/BENCHMARKS.md; run from scripts/bench.sh on a release build. Not part of
/// the test suite: figures are printed, never asserted.
@main
struct VigilBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-bench",
        abstract: "Measure Vigil: webhook ingest over HTTP, and the same work straight on the store.",
        subcommands: [Ingest.self, SignOrders.self, StoreIngest.self, Dispatch.self, Scale.self])
}

/// Percentiles of a sample, in milliseconds.
struct Latencies {
    var sorted: [Double]
    init(_ samples: [Double]) { sorted = samples.sorted() }
    func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }
    var summary: String {
        String(format: "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
               percentile(0.5), percentile(0.99), percentile(0.999), sorted.last ?? 0)
    }
}

/// A load generator in its own process: signed order webhooks with unique order ids, at a fixed
/// concurrency, against a running `vigil serve`.
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "POST signed, unique order webhooks at a fixed concurrency.")

    @Option(help: "Base URL of the running service.") var url = "http://127.0.0.1:8080"
    @Option(help: "Lightspeed webhook secret the service was started with.") var secret = "bench-secret"
    @Option(help: "Requests to send (after the warm-up).") var requests = 20_000
    @Option(help: "Requests in flight at once.") var concurrency = 64
    @Option(help: "Requests sent first and not measured.") var warmup = 1_000
    @Option(help: "Prefix for order ids, so runs do not collide.") var prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"

    /// The n-th order webhook of a run.
    static func body(prefix: String, n: Int) -> String {
        #"{"event":"order.created","orderId":"\#(prefix)-\#(n)","customerEmail":"c\#(n)@example.com","orderTotal":25.5,"currency":"USD","paymentId":"pi_\#(n)"}"#
    }

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let secret = Secret(secret)
        let endpoint = "\(url)/api/v1/post-purchase/webhook"

        @Sendable func send(_ n: Int) async -> (ok: Bool, ms: Double) {
            let body = Ingest.body(prefix: prefix, n: n)
            var request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Signature", value: WebhookSignature.sign(Data(body.utf8), secret: secret))
            request.body = .bytes(ByteBuffer(string: body))
            let start = ContinuousClock.now
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 16)
                let elapsed = ContinuousClock.now - start
                return (response.status.code == 202, Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            } catch {
                return (false, 0)
            }
        }

        func phase(_ range: Range<Int>) async -> (ok: Int, failed: Int, ms: [Double], seconds: Double) {
            let started = ContinuousClock.now
            var results: [(Bool, Double)] = []
            results.reserveCapacity(range.count)
            await withTaskGroup(of: (Bool, Double).self) { group in
                var next = range.lowerBound
                for _ in 0..<min(concurrency, range.count) {
                    let n = next
                    group.addTask { await send(n) }
                    next += 1
                }
                while let result = await group.next() {
                    results.append(result)
                    if next < range.upperBound {
                        let n = next
                        group.addTask { await send(n) }
                        next += 1
                    }
                }
            }
            let elapsed = ContinuousClock.now - started
            let ok = results.filter(\.0)
            return (ok.count, results.count - ok.count, ok.map(\.1),
                    Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }

        _ = await phase(0..<warmup)
        let result = await phase(warmup..<(warmup + requests))
        print(String(format: "ingest: %d accepted (202), %d failed, in %.2f s at concurrency %d: %.0f webhooks/s committed",
                     result.ok, result.failed, result.seconds, concurrency, Double(result.ok) / result.seconds))
        print("latency: \(Latencies(result.ms).summary)")
        try await client.shutdown()
    }
}

/// Signed order webhooks for wrk (scripts/bench/ingest.lua), one per line as
/// `signature<TAB>body`: signing them beforehand keeps the generator's share of the two cores
/// small, so ingest is measured nearer the service's own limit.
struct SignOrders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-orders", abstract: "Print signed, unique order webhooks, one 'signature<TAB>body' line each.")

    @Option(help: "Lightspeed webhook secret the service was started with.") var secret = "bench-secret"
    @Option(help: "Webhooks to print.") var count = 100_000
    @Option(help: "Prefix for order ids, so runs do not collide.") var prefix = "wrk-\(UInt32.random(in: 0...UInt32.max))"

    func run() async throws {
        let secret = Secret(secret)
        var out = ""
        for n in 0..<count {
            let body = Ingest.body(prefix: prefix, n: n)
            out += "\(WebhookSignature.sign(Data(body.utf8), secret: secret))\t\(body)\n"
            if out.utf8.count > 1 << 20 {
                FileHandle.standardOutput.write(Data(out.utf8))
                out = ""
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

/// The database's own limit for the same work: the order transaction of an ingest (webhook
/// record, session, three tasks, event-log rows), committed one after another through the store
/// with no HTTP in front.
struct StoreIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-ingest", abstract: "Commit the order transaction straight through the store, one at a time.")

    @Option(help: "sqlite://PATH or postgres://... (a fresh database).") var database: String
    @Option(help: "Transactions to commit.") var count = 5_000
    @Option(help: "Committers running at once.") var concurrency = 1

    func run() async throws {
        let store = try await BenchStore.open(database, poolMax: max(4, concurrency + 2))
        let count = count, concurrency = concurrency
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            try await store.waitUntilReachable(timeout: 10)
            _ = try await store.migrate()
            let flow = VerificationFlow(store: store, clock: SystemClock(), settings: FlowSettings(
                verificationDeadline: 72 * 3600, reminderAfter: 24 * 3600))
            let prefix = "store-\(UInt32.random(in: 0...UInt32.max))"
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { workers in
                for w in 0..<concurrency {
                    workers.addTask {
                        var n = w
                        while n < count {
                            let order = OrderEvent(event: "order.created", orderId: "\(prefix)-\(n)", customerEmail: "c\(n)@example.com",
                                                   orderTotal: 25.5, currency: "USD", paymentId: "pi_\(n)")
                            _ = try await flow.receiveOrder(order, payload: "{}")
                            n += concurrency
                        }
                    }
                }
                try await workers.waitForAll()
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "store-ingest: %d order transactions in %.2f s with %d committer(s): %.0f/s",
                         count, seconds, concurrency, Double(count) / seconds))
            group.cancelAll()
        }
        try await store.close()
    }
}

enum BenchStore {
    static let logger: Logger = {
        var logger = Logger(label: "vigil.bench")
        // Workers report the cancellation that ends a run as a failed claim; that is not news.
        logger.logLevel = .error
        return logger
    }()

    static func open(_ database: String, poolMax: Int) async throws -> any Store {
        if database.hasPrefix("sqlite://") {
            return try await SQLiteStore.open(path: String(database.dropFirst("sqlite://".count)), logger: logger)
        }
        guard let url = URLComponents(string: database), let host = url.host else {
            throw ValidationError("--database must be sqlite://PATH or postgres://USER@HOST:PORT/DB")
        }
        return PostgresStore(settings: PostgresSettings(
            host: host, port: url.port ?? 5432, user: url.user ?? "postgres", password: url.password,
            database: String(url.path.dropFirst()), tls: .disable, poolMax: poolMax,
            connectTimeout: 10, idleTimeout: 60, queryTimeout: 30), logger: logger)
    }

    /// How the store batched: completions per completion batch, and (SQLite) transactions per commit.
    static func batching(_ store: any Store) -> String {
        func ratio(_ s: GroupCommitStats) -> String {
            String(format: "%d in %d (%.1f each)", s.transactions, s.commits, Double(s.transactions) / Double(max(s.commits, 1)))
        }
        if let sqlite = store as? SQLiteStore {
            return "completions \(ratio(sqlite.completionStats)); SQLite transactions \(ratio(sqlite.groupCommitStats)) per commit"
        }
        if let postgres = store as? PostgresStore { return "completions \(ratio(postgres.completionStats))" }
        return ""
    }
}
