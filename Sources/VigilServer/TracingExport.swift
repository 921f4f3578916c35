import Logging
import ServiceLifecycle
import Tracing
import VigilCore
#if OTLP
import OTel
#endif

/// Exports Vigil's spans over OTLP/HTTP with swift-otel, when this vigil was built with the
/// package trait `OTLP` (`swift build --traits OTLP`) and `VIGIL_OTLP_ENDPOINT` is set. Without
/// either, no tracer is bootstrapped and every span is a no-op.
public enum TracingExport {
    /// Whether this build has the exporter.
    public static var isBuilt: Bool {
        #if OTLP
        true
        #else
        false
        #endif
    }

    /// Bootstraps the process-wide tracer (W3C trace context propagation, so an incoming
    /// `traceparent` is continued) and returns the exporter's service, to run until shutdown;
    /// nil when nothing is configured. Call once per process, before anything traces.
    public static func bootstrap(_ config: VigilConfig, logger: Logger) throws -> (any Service)? {
        guard let endpoint = config.otlpEndpoint else { return nil }
        #if OTLP
        var otel = OTel.Configuration.default
        otel.serviceName = config.otlpServiceName
        otel.resourceAttributes["service.version"] = VigilVersion.current
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.enabled = true
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.endpoint = endpoint + "/v1/traces"
        otel.traces.otlpExporter.protocol = config.otlpProtocol == .httpJSON ? .httpJSON : .httpProtobuf
        otel.propagators = [.traceContext]
        otel.diagnosticLogger = .custom(logger)
        let backend = try OTel.makeTracingBackend(configuration: otel)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("exporting traces", metadata: ["endpoint": .string(endpoint), "protocol": .string(config.otlpProtocol.rawValue)])
        return backend.service
        #else
        _ = endpoint
        return nil
        #endif
    }
}
