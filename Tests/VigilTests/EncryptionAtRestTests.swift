import Foundation
import Testing
import VigilCore
import VigilPostgres
import VigilProviders
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

    @Test("no address, name or phone anywhere in the database in clear, every table and column read raw: sealed where kept, out of provider errors; the store reads them back",
          arguments: Backend.allCases)
    func sealedAtRest(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let identity = ScriptedIdentity()
            identity.script(["echo"])  // the first try is refused, quoting the address
            let sandbox = SandboxProviders().providers
            let h = Harness(store: store, providers: Providers(identity: identity, email: sandbox.email, payments: sandbox.payments,
                                                               shop: sandbox.shop))
            _ = try await h.flow.receiveDecision(h.decision("S2", .approved))  // before its order: parked
            var order = h.order("S1")
            order.customerEmail = "zebulon.q@example.com"
            order.customerName = "Zebulon Quillfeather"
            _ = try await h.flow.receiveOrder(
                order, payload: #"{"customerEmail":"zebulon.q@example.com","customerName":"Zebulon Quillfeather","phone":"+15550100"}"#)
            try await h.drain()
            try await h.advance(by: 60)  // the refused call again, answered
            // An admin API answer kept for replays (an order's view holds the address).
            _ = try await store.claimIdempotencyKey("k1", scope: "order.resend:S1", actor: "t", now: h.clock.now())
            try await store.answerIdempotencyKey("k1", status: 200, body: #"{"customerEmail":"zebulon.q@example.com"}"#)

            let raw = try await Self.everyValue(store)
            #expect(raw.count > 20)
            for secret in ["zebulon.q@example.com", "Quillfeather", "15550100", "1990-01-01"] {
                let found = raw.filter { $0.contains(secret) }
                #expect(found.isEmpty, "\(secret) in clear: \(found.prefix(3))")
            }
            #expect(raw.filter { $0.contains("enc:v1:") }.count >= 7)
            let session = try #require(try await store.session(orderId: "S1"))
            #expect(session.customerEmail == "zebulon.q@example.com" && session.customerName == "Zebulon Quillfeather")
            #expect(try await store.webhooks(orderId: "S1", limit: 5).first?.payload.contains("+15550100") == true)
            let emails = try await h.outbox("S1").filter { $0.operation == .sendEmail }
            #expect(!emails.isEmpty && emails.allSatisfy { $0.request.contains("zebulon.q@example.com") })
            let replay = try await store.claimIdempotencyKey("k1", scope: "order.resend:S1", actor: "t", now: h.clock.now())
            #expect(replay == .answered(status: 200, body: #"{"customerEmail":"zebulon.q@example.com"}"#))
            #expect(try await store.attempts(orderId: "S1").contains { $0.error?.contains("cannot verify [email]") == true })
            #expect(try await store.sessions(customerKey: h.config.customerKeys.email("Zebulon.Q@EXAMPLE.com"), limit: 5).map(\.orderId) == ["S1"],
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

    /// Every value of every column of every table, as text.
    static func everyValue(_ store: any Store) async throws -> [String] {
        var values: [String] = []
        if let sqlite = store as? SQLiteStore {
            let tables = try await sqlite.driver.read("SELECT name FROM sqlite_master WHERE type = 'table'")
                .map { try $0.text(required: "name") }
            for table in tables {
                let columns = try await sqlite.driver.read(SQLStatement("SELECT name FROM pragma_table_info(?)", [.text(table)]))
                    .map { try $0.text(required: "name") }
                for column in columns {
                    values += try await sqlite.driver.read(SQLStatement("SELECT CAST(\"\(column)\" AS TEXT) AS v FROM \"\(table)\""))
                        .compactMap { try $0.text("v") }
                }
            }
            return values
        }
        let postgres = try #require(store as? PostgresStore)
        let tables = try await postgres.driver.read("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")
            .map { try $0.text(required: "name") }
        for table in tables {
            values += try await postgres.driver.read(SQLStatement("SELECT CAST(r AS TEXT) AS v FROM \"\(table)\" r"))
                .compactMap { try $0.text("v") }
        }
        return values
    }

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

/// The database at `location`, migrated (unless told not to), opened under `cipher` for the duration of `body`.
func withStore(at location: StoreLocation, cipher: FieldCipher, migrate: Bool = true,
               _ body: @Sendable (any Store) async throws -> Void) async throws {
    switch location {
    case .sqlite(let path):
        let store = try await SQLiteStore.open(path: path, logger: quietLogger, cipher: cipher)
        do {
            if migrate { _ = try await store.migrate() }
            try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    case .postgres(let database):
        let store = PostgresStore(settings: try TestPostgres.settings(database: database), logger: quietLogger, cipher: cipher)
        try await withRunning(store) {
            if migrate { _ = try await store.migrate() }
            try await body(store)
        }
    }
}
