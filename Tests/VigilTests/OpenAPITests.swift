import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import VigilServer

@Suite("OpenAPI description")
struct OpenAPITests {
    /// `METHOD /path` for every operation under `paths:` (two-space path keys, four-space methods).
    static func documented(_ yaml: String) -> Set<String> {
        var operations: Set<String> = []
        var inPaths = false
        var path: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, let first = line.first, first != " " { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "patch", "delete", "options", "head"].contains(String(method)) {
                    operations.insert("\(method.uppercased()) \(path)")
                }
            }
        }
        return operations
    }

    @Test("every served route is documented and every documented operation is served")
    func routesMatch() async throws {
        try await withSQLiteStore { store in
            let served = Set(buildRoutes(Harness(store: store).services).served)
            let documented = Self.documented(OpenAPIDocument.yaml)
            #expect(documented.count >= 13)
            #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
            #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        }
    }

    @Test("GET /openapi.yaml serves the document as OpenAPI 3.1")
    func served() async throws {
        try await withSQLiteStore { store in
            let app = Application(router: buildRouter(Harness(store: store).services))
            try await app.test(.router) { client in
                let r = try await client.executeRequest(uri: "/openapi.yaml", method: .get, headers: [:], body: nil)
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "application/yaml")
                let text = String(buffer: r.body)
                #expect(text.hasPrefix("openapi: 3.1.0"))
                #expect(text == OpenAPIDocument.yaml)
            }
        }
    }
}
