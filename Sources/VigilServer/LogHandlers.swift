import Foundation
import Logging
import VigilCore
import VigilQueue

/// One JSON object per line, for log collectors in production.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: Any] = [
            "ts": Timestamp.string(Date()), "level": event.level.rawValue, "msg": "\(event.message)", "logger": label,
        ]
        let provided = metadataProvider?.get() ?? [:]
        let merged = provided.merging(metadata) { _, new in new }.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged { fields[key] = Self.plain(value) }
        let line = JSONCoding.objectAny(fields) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(plain)
        case .dictionary(let d): d.mapValues(plain)
        }
    }
}

public enum VigilLogging {
    /// Installs the process-wide log handler once, before anything logs.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap({ label, provider in
            var handler: any LogHandler = switch format {
            case .json: JSONLogHandler(label: label, metadataProvider: provider)
            case .text: StreamLogHandler.standardError(label: label, metadataProvider: provider)
            }
            handler.logLevel = level
            return handler
        }, metadataProvider: traceMetadata)
    }

    /// `trace_id` and `span_id` on every line logged inside a span, when the tracer propagates
    /// W3C trace context (the OTLP exporter does); nothing otherwise.
    public static let traceMetadata = Logger.MetadataProvider {
        guard let ids = TaskTracing.currentTraceIDs() else { return [:] }
        return ["trace_id": .string(ids.traceID), "span_id": .string(ids.spanID)]
    }
}
