import Foundation
import Testing

/// `sslmode` against a server that only accepts TLS and has a self-signed certificate.
@Suite("PostgreSQL sslmode", .serialized)
struct PostgresTLSTests {
    func migrate(_ cluster: PrivateCluster, sslmode: String) throws -> (status: Int32, stdout: String, stderr: String) {
        try runVigil(["migrate"], env: [
            "VIGIL_DATABASE_URL": "postgres://vigil@127.0.0.1:\(cluster.port)/postgres?sslmode=\(sslmode)",
            "VIGIL_DB_CONNECT_TIMEOUT": "5s",
        ])
    }

    @Test("require encrypts without checking the certificate; disable is refused by a TLS-only server; verify-full rejects an untrusted certificate")
    func modes() throws {
        let cluster = try PrivateCluster(tlsOnly: true)
        defer { cluster.destroy() }

        let required = try migrate(cluster, sslmode: "require")
        #expect(required.status == 0, "sslmode=require: \(required.stderr)")

        let plain = try migrate(cluster, sslmode: "disable")
        #expect(plain.status == 1)
        #expect(plain.stderr.contains("no encryption") || plain.stderr.contains("pg_hba.conf"), "\(plain.stderr)")

        let verified = try migrate(cluster, sslmode: "verify-full")
        #expect(verified.status == 1)
        #expect(verified.stderr.lowercased().contains("certificate"), "\(verified.stderr)")
        for r in [plain, verified] {
            #expect(r.stderr.split(separator: "\n").filter { $0.hasPrefix("vigil:") }.count == 1)
        }
    }
}
