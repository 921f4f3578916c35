import Foundation
import Hummingbird
import VigilCore

/// Registers routes on the router and remembers each as `METHOD /path/{param}`, so the served
/// surface can be held to the OpenAPI description by a test.
final class RouteTable {
    let router: Router<VigilRequestContext>
    private(set) var served: [String] = []
    /// Applied to the routes registered while it is set: past it the work is cancelled and the
    /// caller gets a 503 problem.
    var timeout: RequestTimeout?

    init(router: Router<VigilRequestContext>) {
        self.router = router
    }

    typealias Handler<Output: ResponseGenerator> = @Sendable (Request, VigilRequestContext) async throws -> Output

    /// A GET route, and HEAD on the same path answering like GET without the body (RFC 9110
    /// §9.3.2: a server should send the same header fields, and GET implies HEAD).
    func get<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        let get = timed(handler)
        router.get(RouterPath(path), use: get)
        router.head(RouterPath(path)) { request, context in
            let response = try await get(request, context)
            var headers = response.headers
            if headers[.contentLength] == nil, let length = response.body.contentLength {
                headers[.contentLength] = "\(length)"
            }
            return Response(status: response.status, headers: headers, body: .init())
        }
        record("GET", path)
    }

    func post<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        router.post(RouterPath(path), use: timed(handler))
        record("POST", path)
    }

    func delete<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        router.delete(RouterPath(path), use: timed(handler))
        record("DELETE", path)
    }

    private func timed<Output: ResponseGenerator>(_ handler: @escaping Handler<Output>) -> Handler<Response> {
        guard let timeout else { return { request, context in try await handler(request, context).response(from: request, context: context) } }
        return { request, context in
            try await timeout.run { try await handler(request, context).response(from: request, context: context) }
        }
    }

    /// Hummingbird's `:name` parameters written as OpenAPI's `{name}`.
    private func record(_ method: String, _ path: String) {
        let openAPIPath = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        served.append("\(method) \(openAPIPath)")
    }
}

/// A bound on how long one kind of request may take.
struct RequestTimeout: Sendable {
    let seconds: TimeInterval
    /// What the caller sent, for the problem's detail ("webhook", "admin request").
    let what: String

    /// `body`'s response, or a 503 problem once `seconds` have passed (the work is cancelled).
    func run(_ body: @escaping @Sendable () async throws -> Response) async throws -> Response {
        let (seconds, what) = (seconds, what)
        return try await withTimeLimit(seconds, orThrow: {
            Problem(.serviceUnavailable, "timeout", "Request timed out",
                    detail: "the \(what) did not complete within \(DurationText.format(seconds)); retry it (a repeated delivery is recognised)")
        }, body)
    }
}
