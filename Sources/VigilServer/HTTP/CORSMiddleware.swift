import HTTPTypes
import Hummingbird

/// CORS for the configured origins only (off when none are configured): a listed `Origin` is
/// echoed back, anything else gets no CORS headers and so stays blocked by the browser.
struct AllowedOriginsMiddleware: RouterMiddleware {
    typealias Context = VigilRequestContext
    let origins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var preflight = Response(status: .noContent)
            preflight.headers[.accessControlAllowMethods] = "GET, POST, DELETE"
            preflight.headers[.accessControlAllowHeaders] = "Authorization, Content-Type, X-Request-ID, Idempotency-Key"
            preflight.headers[.accessControlMaxAge] = "600"
            return Self.allow(preflight, origin)
        }
        return Self.allow(try await next(request, context), origin)
    }

    static func allow(_ response: Response, _ origin: String) -> Response {
        var response = response
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = "X-Request-ID"
        response.headers[.vary] = "Origin"
        return response
    }
}
