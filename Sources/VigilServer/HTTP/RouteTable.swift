import Hummingbird

/// Registers routes on the router and remembers each as `METHOD /path/{param}`, so the served
/// surface can be held to the OpenAPI description by a test.
final class RouteTable {
    let router: Router<VigilRequestContext>
    private(set) var served: [String] = []

    init(router: Router<VigilRequestContext>) {
        self.router = router
    }

    typealias Handler<Output: ResponseGenerator> = @Sendable (Request, VigilRequestContext) async throws -> Output

    func get<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        router.get(RouterPath(path), use: handler)
        record("GET", path)
    }

    func post<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        router.post(RouterPath(path), use: handler)
        record("POST", path)
    }

    func delete<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        router.delete(RouterPath(path), use: handler)
        record("DELETE", path)
    }

    /// Hummingbird's `:name` parameters written as OpenAPI's `{name}`.
    private func record(_ method: String, _ path: String) {
        let openAPIPath = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        served.append("\(method) \(openAPIPath)")
    }
}
