import Foundation
import HTTPTypes
import Hummingbird

/// Responses of the console and the customer page: HTML with a strict policy (nothing from
/// another origin, no inline script or style, no framing, no referrer), never cached.
enum ConsolePage {
    static let contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var response = Response(status: status, headers: headers("text/html; charset=utf-8"),
                                body: .init(byteBuffer: ByteBuffer(string: text)))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// 303 to a path of this site (never a caller-supplied absolute URL).
    static func redirect(_ path: String) -> Response {
        var response = Response(status: .seeOther, headers: headers(nil))
        response.headers[.location] = path
        response.headers[.cacheControl] = "no-store"
        return response
    }

    static func headers(_ contentType: String?) -> HTTPFields {
        var fields = HTTPFields()
        if let contentType { fields[.contentType] = contentType }
        fields[.contentSecurityPolicy] = contentSecurityPolicy
        fields[.xContentTypeOptions] = "nosniff"
        fields[.literal("Referrer-Policy")] = "no-referrer"
        fields[.literal("X-Frame-Options")] = "DENY"
        return fields
    }

    /// The stylesheet and script, cacheable (their content changes only with the binary).
    static func asset(_ text: String, type: String) -> Response {
        var response = Response(status: .ok, headers: headers(type), body: .init(byteBuffer: ByteBuffer(string: text)))
        response.headers[.cacheControl] = "public, max-age=3600"
        return response
    }

    /// A form body (`application/x-www-form-urlencoded`), at most 64 KiB, as name → value (the
    /// first of repeated names).
    static func form(_ request: Request) async throws -> [String: String] {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        return parseForm(String(buffer: buffer))
    }

    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String? { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = parts.first.flatMap(decode), let value = parts.count > 1 ? decode(parts[1]) : "" else { continue }
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }
}
