import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryTracing
import Logging
import NIOCore
import Synchronization
import Testing
import Tracing
import VigilCore
import VigilQueue
import VigilServer
import VigilStore

/// Swift-distributed-tracing's in-memory tracer with W3C trace context propagation, as the OTLP
/// exporter's tracer propagates: `traceparent` in, `traceparent` out, 32- and 16-digit hex ids.
struct W3CTestTracer: Tracer {
    let base = InMemoryTracer(idGenerator: .init(
        nextTraceID: { Self.hex(16) }, nextSpanID: { Self.hex(8) }))

    static func hex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        base.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func activeSpan(identifiedBy context: InstrumentationContext) -> InMemorySpan? { base.activeSpan(identifiedBy: context) }
    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
        where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
        where Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: "traceparent", from: carrier),
              let ids = TaskTracing.traceIDs(inHeaders: ["traceparent": parent]) else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: ids.traceID, spanID: ids.spanID, parentSpanID: nil)
    }

    var finished: [FinishedInMemorySpan] { base.finishedSpans }
}

/// Log lines kept in memory, with what the metadata provider adds.
final class RecordedLog: Sendable {
    let lines = Mutex<[Logger.Metadata]>([])

    struct Handler: LogHandler {
        let log: RecordedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        var metadataProvider: Logger.MetadataProvider?
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var merged = metadataProvider?.get() ?? [:]
            merged.merge(metadata) { _, new in new }
            merged.merge(event.metadata ?? [:]) { _, new in new }
            merged["message"] = .string("\(event.message)")
            log.lines.withLock { $0.append(merged) }
        }
    }

    var logger: Logger {
        Logger(label: "vigil.test.tracing", factory: { _ in Handler(log: self, metadataProvider: VigilLogging.traceMetadata) })
    }
}

@Suite("Tracing: spans per webhook, transaction, task run and provider call; tasks link back to their webhook")
struct TracingTests {
    static let orderBody = #"{"event":"order.created","orderId":"T1","customerEmail":"t@example.com","orderTotal":50.00,"paymentId":"ch_1"}"#

    @Test("an expired order's refund runs in its own trace, linked to the order webhook's, which continued the caller's traceparent",
          arguments: Backend.allCases)
    func refundLinksToOrderWebhook(_ backend: Backend) async throws {
        let tracer = W3CTestTracer()
        let callerTrace = W3CTestTracer.hex(16)
        try await withTracer(tracer) {
            try await withStore(backend) { store in
                let h = Harness(store: store)
                let app = Application(router: buildRouter(h.services))
                try await app.test(.router) { client in
                    var headers = HTTPFields()
                    headers[.contentType] = "application/json"
                    headers[HTTPField.Name("traceparent")!] = "00-\(callerTrace)-\(W3CTestTracer.hex(8))-01"
                    let response = try await client.executeRequest(
                        uri: "/api/v1/post-purchase/webhook", method: .post, headers: headers, body: ByteBuffer(string: Self.orderBody))
                    #expect(response.status == .accepted)
                }
                try await h.drain()
                try await h.advance(by: 72 * 3600 + 1)
                #expect(try await store.session(orderId: "T1")?.refundStatus == .refunded)

                // The stored cause: the order webhook's trace, on the webhook's tasks and on the
                // refund that the deadline (a task) created three days later.
                let tasks = try await store.tasks(orderId: "T1")
                let refundTask = try #require(tasks.first { $0.kind == "refund" })
                for task in tasks {
                    let headers = try #require(task.traceContext.flatMap(TaskTracing.headers(fromCarrier:)), "\(task.kind) has no trace context")
                    #expect(TaskTracing.traceIDs(inHeaders: headers)?.traceID == callerTrace, "\(task.kind) remembers another trace")
                }

                let spans = tracer.finished
                // The request continued the caller's trace, and the webhook's span is in it.
                let request = try #require(spans.first { $0.operationName == "/api/v1/post-purchase/webhook" })
                #expect(request.traceID == callerTrace && request.kind == .server)
                let webhook = try #require(spans.first { $0.operationName == "webhook lightspeed order" })
                #expect(webhook.traceID == callerTrace && webhook.spanContext.parentSpanID == request.spanID)
                #expect(webhook.attributes["vigil.order_id"]?.toSpanAttribute() == .string("T1"))
                #expect(webhook.attributes["vigil.webhook.outcome"]?.toSpanAttribute() == .string("created"))
                // The webhook's transaction committed under it.
                let write = try #require(spans.first { $0.operationName == "store.transaction write" && $0.traceID == callerTrace })
                #expect(write.spanContext.parentSpanID == webhook.spanID && write.kind == .client)
                #expect(write.attributes["db.system.name"]?.toSpanAttribute()
                    == .string(backend == .sqlite ? "sqlite" : "postgresql"))

                // The refund's run: a trace of its own, linked to the webhook's.
                let refund = try #require(spans.first { $0.operationName == "task refund" })
                #expect(refund.traceID != callerTrace && refund.kind == .consumer)
                #expect(refund.spanContext.parentSpanID == nil)
                #expect(refund.links.contains { $0.context.inMemorySpanContext?.traceID == callerTrace },
                        "the refund's span does not link to the order webhook's trace")
                #expect(refund.attributes["vigil.task.id"]?.toSpanAttribute() == .int64(refundTask.id))
                #expect(refund.attributes["vigil.task.outcome"]?.toSpanAttribute() == .string("succeeded"))
                // Its provider call and its completing transaction are its children.
                let call = try #require(spans.first { $0.operationName == "provider refund" })
                #expect(call.traceID == refund.traceID && call.spanContext.parentSpanID == refund.spanID)
                #expect(call.attributes["vigil.provider.operation"]?.toSpanAttribute() == .string("refund"))
                #expect(spans.contains { $0.operationName == "store.transaction complete_task" && $0.traceID == refund.traceID })
                // The deadline that caused the refund links to the webhook too.
                let deadline = try #require(spans.first { $0.operationName == "task deadline" })
                #expect(deadline.links.contains { $0.context.inMemorySpanContext?.traceID == callerTrace })
            }
        }
    }

    @Test("log lines written inside a span carry its trace and span ids")
    func traceIdsInLogs() throws {
        let tracer = W3CTestTracer()
        let log = RecordedLog()
        withTracer(tracer) {
            withSpan("outer") { _ in
                log.logger.info("inside")
            }
            log.logger.info("outside")
        }
        let lines = log.lines.withLock { $0 }
        let outer = try #require(tracer.finished.first { $0.operationName == "outer" })
        #expect(lines.first?["trace_id"] == .string(outer.traceID))
        #expect(lines.first?["span_id"] == .string(outer.spanID))
        #expect(lines.last?["trace_id"] == nil)
    }

    @Test("without a tracer nothing is stored with a task and nothing is logged")
    func offByDefault() async throws {
        try await withSQLiteStore { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveOrder(h.order("T2"), payload: "{}")
            let tasks = try await store.tasks(orderId: "T2")
            #expect(!tasks.isEmpty && tasks.allSatisfy { $0.traceContext == nil })
        }
        #expect(TaskTracing.currentTraceIDs() == nil)
    }

    @Test("a stored carrier round-trips through the instrument; junk links to nothing")
    func carriers() {
        let tracer = W3CTestTracer()
        withTracer(tracer) {
            let span = tracer.startSpan("x")
            let carrier = TaskTracing.carrier(of: span.context)
            span.end()
            let restored = carrier.flatMap(TaskTracing.context(fromCarrier:))
            #expect(restored?.inMemorySpanContext?.traceID == span.traceID)
            #expect(TaskTracing.context(fromCarrier: "not json") == nil)
            #expect(TaskTracing.context(fromCarrier: #"{"traceparent":"00-zz-yy-01"}"#) == nil)
        }
    }
}

@Suite("Tracing configuration")
struct TracingConfigTests {
    @Test("VIGIL_OTLP_ENDPOINT needs a vigil built with the OTLP trait; the protocol is checked")
    func endpoint() throws {
        if TracingExport.isBuilt {
            let config = try VigilConfig.load(environment: ["VIGIL_OTLP_ENDPOINT": "http://127.0.0.1:4318/"])
            #expect(config.otlpEndpoint == "http://127.0.0.1:4318")
        } else {
            #expect(throws: ConfigError.self) { try VigilConfig.load(environment: ["VIGIL_OTLP_ENDPOINT": "http://127.0.0.1:4318"]) }
        }
        #expect(throws: ConfigError.self) { try VigilConfig.load(environment: ["VIGIL_OTLP_PROTOCOL": "grpc"]) }
        #expect(try VigilConfig.load(environment: ["VIGIL_OTLP_PROTOCOL": "http/json"]).otlpProtocol == .httpJSON)
        #expect(try VigilConfig.load(environment: [:]).otlpEndpoint == nil)
    }
}
