import Foundation
import Tracing

/// How a task remembers the trace that caused it, and how its run links back to that trace.
///
/// A task is created inside some traced work — usually the webhook that took an order — and may
/// run days later (a 72-hour deadline, the refund it causes). Its run is then a trace of its own,
/// not a child of a request long answered, with a span *link* to the trace that caused it. The
/// cause is stored with the task as the instrument's propagation headers (W3C `traceparent` with
/// OpenTelemetry), serialised as a small JSON object, so whatever instrument is bootstrapped can
/// read it back. Tasks a task creates inherit its cause, so a refund three days after the order
/// links to the order's webhook, not to the deadline timer in between.
public enum TaskTracing {
    /// The propagation headers of `context` as the instrument writes them, as JSON; nil when the
    /// instrument writes nothing (no tracer bootstrapped, or no span in the context).
    public static func carrier(of context: InstrumentationContext) -> String? {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        guard !headers.isEmpty else { return nil }
        guard let data = try? JSONSerialization.data(withJSONObject: headers, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The context a stored carrier describes, for a span link; nil when it names nothing the
    /// instrument understands (another instrument wrote it, or it is not a carrier at all).
    public static func context(fromCarrier carrier: String) -> InstrumentationContext? {
        guard let headers = headers(fromCarrier: carrier) else { return nil }
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryExtractor())
        // Nothing extracted leaves the context empty, and an empty context links to nothing.
        return context.isEmpty ? nil : context
    }

    /// A stored carrier's headers.
    public static func headers(fromCarrier carrier: String) -> [String: String]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(carrier.utf8)) as? [String: Any] else { return nil }
        return object.compactMapValues { $0 as? String }
    }

    /// The cause to store with a task created now: the cause of the task running here, if any,
    /// else the current trace (the webhook's, or whatever traced work creates the task).
    public static func causeForNewTask() -> String? {
        guard let context = InstrumentationContext.current else { return nil }
        return context.taskCause ?? carrier(of: context)
    }

    /// W3C trace context's trace and span ids in `headers`, when its `traceparent` is well formed.
    public static func traceIDs(inHeaders headers: [String: String]) -> (traceID: String, spanID: String)? {
        guard let parent = headers["traceparent"] else { return nil }
        let parts = parent.split(separator: "-")
        guard parts.count >= 4, parts[1].count == 32, parts[2].count == 16,
              parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy(\.isHexDigit) else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    /// The trace and span ids of the current context, for log lines (W3C trace context only).
    public static func currentTraceIDs() -> (traceID: String, spanID: String)? {
        guard let context = InstrumentationContext.current else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        return traceIDs(inHeaders: headers)
    }
}

/// The stored cause of the task whose run is the current context (see `TaskTracing`).
enum TaskCauseKey: InstrumentationContextKey {
    typealias Value = String
    static var nameOverride: String? { "vigil-task-cause" }
}

extension InstrumentationContext {
    /// The cause a task run passes on to the tasks it creates.
    public internal(set) var taskCause: String? {
        get { self[TaskCauseKey.self] }
        set { self[TaskCauseKey.self] = newValue }
    }
}

/// Writes propagation headers into a dictionary.
public struct DictionaryInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads propagation headers from a dictionary, names compared without case (HTTP header style).
public struct DictionaryExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key] ?? carrier.first { $0.key.caseInsensitiveCompare(key) == .orderedSame }?.value
    }
}
