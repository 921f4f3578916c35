import Foundation
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

extension VigilRequestContext {
    /// A path parameter as the caller meant it: percent-decoded (`/orders/B%C3%A9-1` names order
    /// `Bé-1`). Hummingbird matches routes on the raw path and leaves parameters encoded.
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw Problem.badRequest("the path's \(name) is not valid percent-encoded UTF-8; encode it as RFC 3986 says")
        }
        return decoded
    }
}
