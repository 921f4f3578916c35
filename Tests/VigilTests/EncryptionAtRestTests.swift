import Foundation
import Testing
import VigilCore
import VigilPostgres
import VigilSQLite
import VigilStore

/// Personal data at rest: what a copy of the database holds, and key rotation.
@Suite("Encryption at rest")
struct EncryptionAtRestTests {
    static let keyA = try! FieldCipher.Key(text: Data(repeating: 0xA1, count: 32).base64EncodedString())
    static let keyB = try! FieldCipher.Key(text: String(repeating: "b2", count: 32))

    @Test("a value opens only under its key and in its place; tampering, moving and unknown keys are refused with what to do")
    func cipher() throws {
        let a = FieldCipher(current: Self.keyA)
        let sealed = try a.seal("ada@example.com", context: "sessions.customer_email:1")
        #expect(sealed.hasPrefix("enc:v1:\(Self.keyA.id):") && !sealed.contains("ada"))
        #expect(try a.seal("ada@example.com", context: "sessions.customer_email:1") != sealed, "a fresh nonce each time")
        #expect(try a.open(sealed, context: "sessions.customer_email:1") == "ada@example.com")
        #expect(throws: FieldCipherError.self) { try a.open(sealed, context: "sessions.customer_email:2") }
        let head = "enc:v1:\(Self.keyA.id):"
        for index in [0, 12, 20, 40] {  // the nonce, the ciphertext, the tag
            var bytes = try #require(Data(base64Encoded: String(sealed.dropFirst(head.count))))
            bytes[index] ^= 0x01
            #expect(throws: FieldCipherError.self) { try a.open(head + bytes.base64EncodedString(), context: "sessions.customer_email:1") }
        }
        let b = FieldCipher(current: Self.keyB)
        let error = #expect(throws: FieldCipherError.self) { try b.open(sealed, context: "sessions.customer_email:1") }
        #expect(error?.description.contains("VIGIL_ENCRYPTION_KEY_PREVIOUS") == true)
        #expect(error?.description.contains("ada") == false)
        #expect(try FieldCipher(current: Self.keyB, previous: [Self.keyA]).open(sealed, context: "sessions.customer_email:1") == "ada@example.com")
        #expect(try a.seal("", context: "x") == "", "an erased email stays empty")
        #expect(try a.open("written before encryption", context: "x") == "written before encryption")
        #expect(try a.seal("naïve 😀 \u{0}", context: "x") != "")
        #expect(try a.open(try a.seal("naïve 😀", context: "x"), context: "x") == "naïve 😀")
        for bad in ["", "short", String(repeating: "z", count: 64), Data(count: 16).base64EncodedString()] {
            #expect(throws: FieldCipherError.self) { try FieldCipher.Key(text: bad) }
        }
    }

    @Test("emails, names, raw webhook bodies, parked decisions and email and ID-session requests are sealed in the database; the store reads them back",
          arguments: Backend.allCases)
    func sealedAtRest(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let h = Harness(store: store)
            _ = try await h.flow.receiveDecision(h.decision("S2", .approved))  // before its order: parked
            _ = try await h.flow.receiveOrder(
                h.order("S1"), payload: #"{"customerEmail":"S1@example.com","customerName":"Ada","phone":"+15550100"}"#)
            try await h.drain()

            let raw = try await Self.rawText(store, """
                SELECT customer_email AS v FROM sessions UNION ALL SELECT customer_name FROM sessions
                UNION ALL SELECT CAST(payload AS TEXT) FROM webhook_events UNION ALL SELECT CAST(decision AS TEXT) FROM parked_decisions
                UNION ALL SELECT CAST(request AS TEXT) FROM outbox WHERE provider IN ('sendgrid', 'veriff')
                """)
            #expect(raw.count >= 6)
            for value in raw {
                #expect(value.contains("enc:v1:"), "\(value)")
                for secret in ["S1@example.com", "Ada", "15550100", "1990-01-01"] { #expect(!value.contains(secret)) }
            }
            let session = try #require(try await store.session(orderId: "S1"))
            #expect(session.customerEmail == "S1@example.com" && session.customerName == "Ada")
            #expect(try await store.webhooks(orderId: "S1", limit: 5).first?.payload.contains("+15550100") == true)
            let emails = try await h.outbox("S1").filter { $0.operation == .sendEmail }
            #expect(!emails.isEmpty && emails.allSatisfy { $0.request.contains("S1@example.com") })
            #expect(try await store.sessions(customerKey: h.config.customerKeys.email("s1@EXAMPLE.com"), limit: 5).map(\.orderId) == ["S1"],
                    "lookups by email go through the keyed hash")

            // A sealed email copied into another order's row does not open there.
            _ = try await h.flow.receiveOrder(h.order("S3"), payload: "{}")
            try await Self.rawExecute(store, "UPDATE sessions SET customer_email = (SELECT customer_email FROM sessions WHERE order_id = 'S1') WHERE order_id = 'S3'")
            await #expect(throws: (any Error).self) { try await store.session(orderId: "S3") }
        }
    }

    @Test("key rotation: a new key seals new values, the old one still opens older ones, reencrypt reseals everything (and values from before encryption), then the old key can go",
          arguments: Backend.allCases)
    func rotation(_ backend: Backend) async throws {
        try await withStoreLocation(backend) { location in
            try await withStore(at: location, cipher: FieldCipher(current: Self.keyA)) { store in
                let h = Harness(store: store)
                _ = try await h.flow.receiveOrder(h.order("K1"), payload: #"{"customerEmail":"K1@example.com"}"#)
                _ = try await h.flow.receiveOrder(h.order("K0"), payload: "{}")
                try await h.drain()
                // As a database upgraded from a version without encryption holds it.
                try await Self.rawExecute(store, "UPDATE sessions SET customer_email = 'K0@example.com', customer_name = 'Old' WHERE order_id = 'K0'")
            }
            try await withStore(at: location, cipher: FieldCipher(current: Self.keyB, previous: [Self.keyA])) { store in
                let h = Harness(store: store)
                #expect(try await store.session(orderId: "K1")?.customerEmail == "K1@example.com")
                #expect(try await store.session(orderId: "K0")?.customerName == "Old")
                _ = try await h.flow.receiveOrder(h.order("K2"), payload: #"{"customerEmail":"K2@example.com"}"#)
                try await h.drain()
                let emails = try await Self.rawText(store, "SELECT customer_email AS v FROM sessions ORDER BY order_id")
                #expect(emails.filter { $0.contains(Self.keyA.id) }.count == 1 && emails.contains("K0@example.com"))

                let report = try await store.reencryptPersonalData(batchSize: 2)  // several batches
                #expect(report.sessions == 2 && report.webhooks >= 1 && report.outbox >= 1, "\(report)")
                #expect(try await store.reencryptPersonalData(batchSize: 2).total == 0, "idempotent")
                let after = try await Self.rawText(store, """
                    SELECT customer_email AS v FROM sessions UNION ALL SELECT CAST(payload AS TEXT) FROM webhook_events WHERE CAST(payload AS TEXT) <> '{}'
                    UNION ALL SELECT CAST(request AS TEXT) FROM outbox WHERE provider IN ('sendgrid', 'veriff')
                    """)
                #expect(after.allSatisfy { $0.contains("enc:v1:\(Self.keyB.id):") }, "\(after)")
            }
            try await withStore(at: location, cipher: FieldCipher(current: Self.keyB)) { (store: any Store) async throws in
                for id in ["K0", "K1", "K2"] { #expect(try await store.session(orderId: id)?.customerEmail == "\(id)@example.com") }
                try await store.checkEncryptionKeys()
                #expect(try await store.webhooks(orderId: "K1", limit: 5).first?.payload.contains("K1@example.com") == true)
            }
            try await withStore(at: location, cipher: FieldCipher(current: Self.keyA)) { store in
                await #expect(throws: FieldCipherError.self, "vigil serve refuses to start") { try await store.checkEncryptionKeys() }
                let error = await #expect(throws: (any Error).self) { try await store.session(orderId: "K1") }
                #expect("\(error.map { "\($0)" } ?? "")".contains("VIGIL_ENCRYPTION_KEY_PREVIOUS"))
            }
        }
    }

    // MARK: Raw access, as someone holding a copy of the database would read it

    static func rawText(_ store: any Store, _ sql: String) async throws -> [String] {
        try await rawRows(store, sql).compactMap { try $0.text("v") }
    }

    static func rawRows(_ store: any Store, _ sql: String) async throws -> [SQLRow] {
        if let sqlite = store as? SQLiteStore { return try await sqlite.driver.read(SQLStatement(sql)) }
        let postgres = try #require(store as? PostgresStore)
        return try await postgres.driver.read(SQLStatement(sql))
    }

    static func rawExecute(_ store: any Store, _ sql: String) async throws {
        if let sqlite = store as? SQLiteStore {
            _ = try await sqlite.driver.autocommit(SQLStatement(sql))
        } else {
            _ = try await #require(store as? PostgresStore).driver.autocommit(SQLStatement(sql))
        }
    }
}

/// Where a test database lives, so that it can be opened again (under another key).
enum StoreLocation: Sendable {
    case sqlite(path: String)
    case postgres(database: String)
}

/// A fresh database of `backend`, removed afterwards.
func withStoreLocation<T: Sendable>(_ backend: Backend, _ body: @Sendable (StoreLocation) async throws -> T) async throws -> T {
    switch backend {
    case .sqlite:
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        return try await body(.sqlite(path: dir.appendingPathComponent("vigil.sqlite").path))
    case .postgres:
        return try await withPostgresDatabase { try await body(.postgres(database: $0)) }
    }
}

/// The database at `location`, migrated, opened under `cipher` for the duration of `body`.
func withStore(at location: StoreLocation, cipher: FieldCipher, _ body: @Sendable (any Store) async throws -> Void) async throws {
    switch location {
    case .sqlite(let path):
        let store = try await SQLiteStore.open(path: path, logger: quietLogger, cipher: cipher)
        do {
            _ = try await store.migrate()
            try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    case .postgres(let database):
        let store = PostgresStore(settings: try TestPostgres.settings(database: database), logger: quietLogger, cipher: cipher)
        try await withRunning(store) {
            _ = try await store.migrate()
            try await body(store)
        }
    }
}
