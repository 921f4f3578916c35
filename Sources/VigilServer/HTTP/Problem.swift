import Foundation
import HTTPTypes
import Hummingbird
import VigilCore

/// An RFC 9457 problem: what the client did wrong, in words it can act on. Thrown by handlers;
/// rendered by `RequestIDMiddleware` as `application/problem+json`.
public struct Problem: Error, Sendable {
    public var status: HTTPResponse.Status
    public var slug: String
    public var title: String
    public var detail: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ slug: String, _ title: String, detail: String) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
    }

    static func badRequest(_ detail: String) -> Problem {
        Problem(.badRequest, "bad-request", "Bad request", detail: detail)
    }
    static func unauthorized(_ detail: String) -> Problem {
        var p = Problem(.unauthorized, "unauthorized", "Unauthorized", detail: detail)
        p.headers[.wwwAuthenticate] = "Bearer"
        return p
    }
    static let invalidSignature = Problem(
        .unauthorized, "invalid-signature", "Invalid signature",
        detail: "the webhook signature is missing or does not match the body; sign the raw body with HMAC-SHA256 and the shared secret, hex-encoded")
    static func notFound(_ detail: String) -> Problem {
        Problem(.notFound, "not-found", "Not found", detail: detail)
    }
    static func unsupportedMediaType() -> Problem {
        Problem(.unsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                detail: "send the body as application/json")
    }
    static let unavailable = Problem(
        .serviceUnavailable, "unavailable", "Service unavailable",
        detail: "the datastore is not reachable; retry later")

    func response(requestId: String) -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        let text = (try? json(requestId: requestId)) ?? #"{"status":\#(status.code)}"#
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The problem body as JSON text.
    func json(requestId: String) throws -> String {
        try APIJSON.text(ProblemBody(type: "urn:vigil:problem:\(slug)", title: title, status: Int(status.code), detail: detail,
                                     requestId: requestId))
    }
}

extension HTTPField.Name {
    /// A header name written in the source; an invalid one is a programming error caught by tests.
    static func literal(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else { preconditionFailure("invalid header name \(name)") }
        return field
    }
}
