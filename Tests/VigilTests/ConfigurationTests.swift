import Foundation
import Testing
import VigilCore
import VigilServer

@Suite("Configuration")
struct ConfigurationTests {
    func load(_ env: [String: String], files: [String: String] = [:]) throws(ConfigError) -> VigilConfig {
        try VigilConfig.load(environment: env, readFile: { path in
            guard let contents = files[path] else { throw CocoaError(.fileNoSuchFile) }
            return contents
        })
    }

    func error(_ env: [String: String], files: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try load(env, files: files)
            return nil
        } catch {
            return error
        }
    }

    @Test("defaults match the contract")
    func defaults() throws {
        let c = try load([:])
        #expect(c.environment == .development)
        #expect(c.host == "127.0.0.1" && c.port == 8080)
        #expect(c.database == .sqlite(path: "vigil-data/vigil.sqlite"))
        #expect(c.providers == .sandbox)
        #expect(c.verificationDeadline == 72 * 3600 && c.reminderAfter == 24 * 3600)
        #expect(c.poolMax == 20 && c.connectTimeout == 10 && c.preparedStatements)
        #expect(try load(["VIGIL_DB_PREPARED_STATEMENTS": "false"]).preparedStatements == false)
        #expect(c.logFormat == .text && c.logLevel == .info)
        #expect(c.acceptsUnsignedWebhooks)
    }

    @Test("durations: 90s, 15m, 24h, 3d, 500ms, 1h30m")
    func durations() throws {
        #expect(try DurationText.parse("90s") == 90)
        #expect(try DurationText.parse("15m") == 900)
        #expect(try DurationText.parse("24h") == 86400)
        #expect(try DurationText.parse("3d") == 259_200)
        #expect(try DurationText.parse("500ms") == 0.5)
        #expect(try DurationText.parse("1h30m") == 5400)
        for bad in ["", "abc", "10", "10x", "h", "-5s"] {
            #expect(throws: DurationText.ParseError.self) { try DurationText.parse(bad) }
        }
        #expect(DurationText.format(72 * 3600) == "72h", "hours below a week, as the contract writes the deadline")
        #expect(DurationText.format(7 * 86400) == "7d")
        #expect(DurationText.format(60) == "60s")
        #expect(DurationText.format(90) == "90s")
        #expect(DurationText.format(300) == "5m")
        #expect(DurationText.format(1.5) == "1500ms")
    }

    @Test("bad values are one-line errors naming the variable", arguments: [
        (["VIGIL_PORT": "abc"], "VIGIL_PORT"),
        (["VIGIL_PORT": "70000"], "VIGIL_PORT"),
        (["VIGIL_VERIFICATION_DEADLINE": "soon"], "VIGIL_VERIFICATION_DEADLINE"),
        (["VIGIL_REMINDER_AFTER": "80h"], "VIGIL_REMINDER_AFTER"),
        (["VIGIL_DATABASE_URL": "mysql://x/y"], "VIGIL_DATABASE_URL"),
        (["VIGIL_DATABASE_URL": "postgres://h/db?sslmode=maybe"], "VIGIL_DATABASE_URL"),
        (["VIGIL_ENV": "staging"], "VIGIL_ENV"),
        (["VIGIL_PROVIDERS": "mock"], "VIGIL_PROVIDERS"),
        (["VIGIL_LOG_LEVEL": "loud"], "VIGIL_LOG_LEVEL"),
        (["VIGIL_DB_POOL_MAX": "0"], "VIGIL_DB_POOL_MAX"),
        (["VIGIL_DB_POOL_MAX": "1"], "VIGIL_DB_POOL_MAX"),
        (["VIGIL_DB_CONNECT_TIMEOUT": "forever"], "VIGIL_DB_CONNECT_TIMEOUT"),
        (["VIGIL_DB_QUERY_TIMEOUT": "1 fortnight"], "VIGIL_DB_QUERY_TIMEOUT"),
        (["VIGIL_DB_QUERY_TIMEOUT": "0s"], "VIGIL_DB_QUERY_TIMEOUT"),
        (["VIGIL_CORS_ORIGINS": "https://ok.example,*"], "VIGIL_CORS_ORIGINS"),
        (["VIGIL_CORS_ORIGINS": "https://x.example/path"], "VIGIL_CORS_ORIGINS"),
        (["SAFE_MODE": "perhaps"], "SAFE_MODE"),
        (["VIGIL_DB_PREPARED_STATEMENTS": "sometimes"], "VIGIL_DB_PREPARED_STATEMENTS"),
        (["VIGIL_PAYMENTS_GATEWAY": "paypal"], "VIGIL_PAYMENTS_GATEWAY"),
        (["VIGIL_VERIFF_BASE_URL": "ftp://x"], "VIGIL_VERIFF_BASE_URL"),
        (["VIGIL_ENCRYPTION_KEY": "too short to be a key"], "VIGIL_ENCRYPTION_KEY"),
        (["VIGIL_ENCRYPTION_KEY_PREVIOUS": String(repeating: "ab", count: 32) + ",nope"], "VIGIL_ENCRYPTION_KEY_PREVIOUS"),
    ])
    func badValues(_ env: [String: String], variable: String) throws {
        let e = try #require(error(env))
        #expect(e.variable == variable)
        #expect(!e.description.contains("\n"))
        #expect(e.description.hasPrefix(variable))
    }

    @Test("database URLs: sqlite path, postgres with sslmode")
    func databaseURLs() throws {
        #expect(try load(["VIGIL_DATABASE_URL": "sqlite:///tmp/x.db"]).database == .sqlite(path: "/tmp/x.db"))
        guard case .postgres(let pg) = try load(["VIGIL_DATABASE_URL": "postgres://u:p%40ss@db.local:6543/vigil?sslmode=verify-full"]).database else {
            Issue.record("expected postgres")
            return
        }
        #expect(pg.host == "db.local" && pg.port == 6543 && pg.user == "u" && pg.database == "vigil")
        #expect(pg.password?.value == "p@ss")
        #expect(pg.sslMode == .verifyFull)
    }

    @Test("secrets from *_FILE, trimmed; comma-separated lists for rotation")
    func secretFiles() throws {
        let c = try load(["VIGIL_LIGHTSPEED_WEBHOOK_SECRET_FILE": "/run/secrets/ls", "VIGIL_ADMIN_TOKEN": "a, b"],
                         files: ["/run/secrets/ls": "new,old\n"])
        #expect(c.lightspeedWebhookSecrets.map(\.value) == ["new", "old"])
        #expect(c.adminTokens.map(\.value) == ["a", "b"])
        #expect(error(["VIGIL_ADMIN_TOKEN_FILE": "/missing"])?.variable == "VIGIL_ADMIN_TOKEN_FILE")
        #expect(error(["VIGIL_ADMIN_TOKEN": "x", "VIGIL_ADMIN_TOKEN_FILE": "/f"], files: ["/f": "y"])?.variable == "VIGIL_ADMIN_TOKEN")
    }

    @Test("a secret's value never appears in an error")
    func secretNotInError() {
        let e = error(["VIGIL_ADMIN_TOKEN_FILE": "/f", "VIGIL_PORT": "x"], files: ["/f": "topsecret"])
        #expect(e != nil)
        #expect(!(e?.description.contains("topsecret") ?? true))
    }

    @Test("the encryption key: derived from the data key by default, which keeps opening after a key of its own is set; from a file; never in an error")
    func encryptionKeys() throws {
        let dataKey = String(repeating: "d", count: 40)
        let derived = try load(["VIGIL_DATA_KEY": dataKey]).fieldCipher
        #expect(derived.current.id != FieldCipher.development.current.id && derived.ring.count == 1)
        let own = Data(repeating: 7, count: 32).base64EncodedString()
        let rotated = try load(["VIGIL_DATA_KEY": dataKey, "VIGIL_ENCRYPTION_KEY_FILE": "/k"], files: ["/k": own + "\n"]).fieldCipher
        #expect(rotated.current.id != derived.current.id && rotated.ring.map(\.id) == [rotated.current.id, derived.current.id])
        let sealed = try derived.seal("a@example.com", context: "c")
        #expect(try rotated.open(sealed, context: "c") == "a@example.com")
        let secret = "this-is-not-a-key-but-a-secret-value"
        #expect(error(["VIGIL_ENCRYPTION_KEY": secret])?.description.contains(secret) == false)
    }

    @Test("SAFE_MODE=true means sandbox; live with SAFE_MODE is a contradiction")
    func safeMode() throws {
        #expect(try load(["SAFE_MODE": "true"]).providers == .sandbox)
        #expect(error(["SAFE_MODE": "true", "VIGIL_PROVIDERS": "live"])?.variable == "SAFE_MODE")
    }

    @Test("production refuses SQLite, missing webhook secrets, and implicit sandbox")
    func production() throws {
        let pg = "postgres://u:p@localhost:5432/vigil"
        #expect(error(["VIGIL_ENV": "production", "VIGIL_PROVIDERS": "sandbox"])?.variable == "VIGIL_DATABASE_URL")
        #expect(error(["VIGIL_ENV": "production", "VIGIL_DATABASE_URL": pg, "VIGIL_PROVIDERS": "sandbox"])?.variable
                == "VIGIL_LIGHTSPEED_WEBHOOK_SECRET")
        #expect(error(["VIGIL_ENV": "production", "VIGIL_DATABASE_URL": pg, "VIGIL_PROVIDERS": "sandbox",
                       "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "a"])?.variable == "VIGIL_VERIFF_SHARED_SECRET")
        #expect(error(["VIGIL_ENV": "production", "VIGIL_DATABASE_URL": pg,
                       "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "a", "VIGIL_VERIFF_SHARED_SECRET": "b"])?.variable == "VIGIL_PROVIDERS")
        #expect(error(["VIGIL_ENV": "production", "VIGIL_DATABASE_URL": pg, "VIGIL_PROVIDERS": "sandbox",
                       "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "a", "VIGIL_VERIFF_SHARED_SECRET": "b"])?.variable == "VIGIL_DATA_KEY")
        #expect(error(["VIGIL_DATA_KEY": "too short"])?.variable == "VIGIL_DATA_KEY")
        let ok = try load(["VIGIL_ENV": "production", "VIGIL_DATABASE_URL": pg, "VIGIL_PROVIDERS": "sandbox",
                           "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "a", "VIGIL_VERIFF_SHARED_SECRET": "b",
                           "VIGIL_DATA_KEY": String(repeating: "k", count: 32), "VIGIL_PUBLIC_URL": "https://verify.example.com/"])
        #expect(ok.logFormat == .json)
        #expect(ok.flowSettings.publicURL == "https://verify.example.com")
        #expect(error(["VIGIL_ENV": "production", "VIGIL_DATABASE_URL": pg, "VIGIL_PROVIDERS": "sandbox",
                       "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": "a", "VIGIL_VERIFF_SHARED_SECRET": "b",
                       "VIGIL_DATA_KEY": String(repeating: "k", count: 32)])?.variable == "VIGIL_PUBLIC_URL")
        #expect(error(["VIGIL_PUBLIC_URL": "javascript:alert(1)"])?.variable == "VIGIL_PUBLIC_URL")
        #expect(error(["VIGIL_PUBLIC_URL": "https://x.example/?a=1"])?.variable == "VIGIL_PUBLIC_URL")
        #expect(error(["VIGIL_CONSOLE_SESSION_TTL": "10s"])?.variable == "VIGIL_CONSOLE_SESSION_TTL")
        #expect(!ok.acceptsUnsignedWebhooks)
    }
}

@Suite("Webhook payloads")
struct WebhookParserTests {
    @Test("the contract's order webhook parses, with optional fields")
    func order() throws {
        let o = try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":"A-1","customerEmail":"a@b.co","orderTotal":50.00,"currency":"usd","paymentId":"ch_9","customerName":"Ada"}"#.utf8))
        #expect(o.orderId == "A-1" && o.orderTotal == 50 && o.currency == "USD" && o.paymentId == "ch_9")
        #expect(o.eventId == #"["order.created","A-1"]"#)
        let numeric = try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":12345,"customerEmail":"a@b.co","orderTotal":"19.99"}"#.utf8))
        #expect(numeric.orderId == "12345" && numeric.orderTotal == Decimal(string: "19.99"))
        for total in ["0", "1", "7"] {
            let o = try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":"x","customerEmail":"a@b.co","orderTotal":\#(total)}"#.utf8))
            #expect(o.orderTotal == Decimal(string: total))
        }
    }

    @Test("bad order payloads say what is wrong", arguments: [
        ("", "empty"), ("{", "not valid JSON"), ("[]", "JSON object"),
        (#"{"orderId":"1","customerEmail":"a@b","orderTotal":1}"#, "event"),
        (#"{"event":"order.created","customerEmail":"a@b","orderTotal":1}"#, "orderId"),
        (#"{"event":"order.created","orderId":"1","customerEmail":"nope","orderTotal":1}"#, "customerEmail"),
        (#"{"event":"order.created","orderId":"1","customerEmail":"a@b","orderTotal":-1}"#, "orderTotal"),
        (#"{"event":"order.created","orderId":"1","customerEmail":"a@b","orderTotal":1,"currency":"dollars"}"#, "currency"),
        (#"{"event":"order.created","orderId":"1","customerEmail":"a@b","orderTotal":true}"#, "orderTotal"),
        (#"{"event":"order.created","orderId":true,"customerEmail":"a@b","orderTotal":1}"#, "orderId"),
    ])
    func badOrder(_ body: String, mentions: String) {
        #expect {
            try WebhookParser.order(from: Data(body.utf8))
        } throws: { error in
            (error as? PayloadError)?.message.contains(mentions) ?? false
        }
    }

    @Test("Veriff's decision payload and the short form both parse")
    func decisions() throws {
        let veriff = try WebhookParser.decision(from: Data(#"{"status":"success","verification":{"id":"f04bdb47-d3be-4b28-b028-a652feb060b5","attemptId":"a1","status":"declined","code":9102,"vendorData":"A-1","reason":"Physical document not used"}}"#.utf8))
        #expect(veriff.decision == .declined && veriff.code == 9102 && veriff.orderId == "A-1")
        #expect(veriff.verificationId == "f04bdb47-d3be-4b28-b028-a652feb060b5")
        #expect(veriff.eventId == #"["f04bdb47-d3be-4b28-b028-a652feb060b5","a1","declined"]"#)
        let short = try WebhookParser.decision(from: Data(#"{"event":"verification.updated","id":"evt_1","status":"resubmission_requested","orderId":"A-1"}"#.utf8))
        #expect(short.decision == .resubmissionRequested && short.eventId == "evt_1" && short.orderId == "A-1")
        let unknown = try WebhookParser.decision(from: Data(#"{"id":"evt_1","status":"maybe","orderId":"A"}"#.utf8))
        #expect(unknown.decision == nil && unknown.status == "maybe", "a status Vigil does not act on is still a decision to record")
    }
}

@Suite("One source for each default")
struct DefaultsDocumentedTests {
    /// The README, found from this source file's place in the package.
    static func readme() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    }

    @Test("every setting's default in the code is the one the README's configuration table and --help give")
    func readmeAgrees() throws {
        let rows = try Self.readme().split(separator: "\n").filter { $0.hasPrefix("| `VIGIL_") || $0.hasPrefix("| `SAFE_MODE") }
        #expect(rows.count >= 20)
        for setting in EnvironmentHelp.serviceSettings where !setting.variable.contains("<") {
            // The row whose first cell names the variable.
            let row = rows.first { $0.split(separator: "|").first?.contains("`\(setting.variable)`") == true }
            #expect(row != nil, "\(setting.variable) is not in the README's configuration table")
            if let row, let value = setting.defaultValue {
                #expect(row.contains("`\(value)`"), "README row for \(setting.variable) lacks its default `\(value)`: \(row)")
            }
            #expect(EnvironmentHelp.all.contains(setting.variable))
        }
        // And nothing in the README's table that the code does not read.
        let documented = Set(EnvironmentHelp.serviceSettings.map(\.variable))
        for row in rows {
            let first = row.split(separator: "`").dropFirst().first.map(String.init) ?? ""
            #expect(documented.contains(first) || first.hasPrefix("VIGIL_SENDGRID_TEMPLATE_"), "README documents \(first), which --help does not")
        }
    }
}
