import Hummingbird
import Logging

/// Per-request context: Hummingbird's core storage plus the request id every response and
/// log line carries.
public struct VigilRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestId = ""
    /// The peer's IP address, for the audit log.
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Webhook payloads are small; 1 MiB leaves ample room and bounds memory per request.
    public var maxUploadSize: Int { 1 << 20 }
}
