import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1
import VigilCore

/// Outermost middleware: gives every request an id (the caller's `X-Request-ID` when it is
/// sane, else a new one), puts it on every log line and response, adds baseline security
/// headers, and turns every error into a problem body that reveals nothing internal.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = VigilRequestContext

    static let header = HTTPField.Name.literal("X-Request-ID")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestId = Self.acceptable(request.headers[Self.header]) ?? UUID().uuidString.lowercased()
        context.requestId = requestId
        context.logger[metadataKey: "request_id"] = .string(requestId)

        var response: Response
        do {
            response = try await next(request, context)
        } catch let problem as Problem {
            if problem.status.code >= 500 {
                context.logger.warning("request failed", metadata: ["status": "\(problem.status.code)", "problem": "\(problem.slug)"])
            }
            response = problem.response(requestId: requestId)
        } catch let error as HTTPParserError {
            // The framing broke while the body was read (a bad chunk size, say): the client's
            // fault, and nothing more on this connection can be trusted.
            response = Problem.badRequest("the request is not valid HTTP/1.1 (\(error)); fix the framing and send it again")
                .response(requestId: requestId)
            response.headers[.connection] = "close"
        } catch let timeout as RequestBodyTimeout {
            response = Problem(.requestTimeout, "request-timeout", "Request timeout",
                               detail: "the body did not arrive within \(DurationText.format(timeout.seconds)) of the headers; send it again")
                .response(requestId: requestId)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own errors: unknown route (404), wrong method (405), body too large (413).
            let status = error.status
            let detail: String = switch status {
            case .notFound: "no such endpoint: \(request.method) \(BoundedText.cut(request.uri.path))"
            case .methodNotAllowed: "\(request.method) is not allowed on \(BoundedText.cut(request.uri.path))"
            case .contentTooLarge: "the body is larger than the limit of \(context.maxUploadSize) bytes"
            default: status.reasonPhrase
            }
            response = Problem(status, Self.slug(status), status.reasonPhrase, detail: detail).response(requestId: requestId)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            response = Problem(.internalServerError, "internal", "Internal error",
                               detail: "the request could not be completed; quote the request id when reporting it")
                .response(requestId: requestId)
        }
        if response.status == .contentTooLarge || response.status == .requestTimeout {
            // The body was not read (or not all of it): end the conversation rather than read it.
            response.headers[.connection] = "close"
        }
        response.headers[Self.header] = requestId
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.literal("X-Frame-Options")] = "DENY"
        response.headers[.literal("Referrer-Policy")] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        // Behind a TLS-terminating proxy: tell browsers to stay on HTTPS.
        if request.headers[.literal("X-Forwarded-Proto")]?.lowercased() == "https" {
            response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains"
        }
        return response
    }

    static func slug(_ status: HTTPResponse.Status) -> String {
        status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "-")
    }

    /// Caller-supplied ids are echoed only if short and plain, so they cannot forge log lines.
    static func acceptable(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.count <= 128,
              value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else { return nil }
        return value
    }
}

/// Refuses a body announced over the limit at once, from its `Content-Length`, without reading
/// it (a chunked body is cut off at the limit while it is read). The answer closes the connection.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = VigilRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let announced = request.headers[.contentLength], let length = Int(announced), length > context.maxUploadSize {
            throw Problem(.contentTooLarge, "content-too-large", "Content too large",
                          detail: "the body announces \(length) bytes, over the limit of \(context.maxUploadSize); send at most that")
        }
        return try await next(request, context)
    }
}
