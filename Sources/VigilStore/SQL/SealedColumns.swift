import VigilCore

/// The columns holding personal data, sealed with `FieldCipher` on the way in and opened on the
/// way out, so nothing above the store sees ciphertext: customers' emails and names, raw webhook
/// bodies, parked decisions, the requests of provider calls that carry an address or a name
/// (emails, ID sessions), and the admin API's stored answers (replayed for an idempotency key,
/// they can hold an order's view). Each value's associated data names its column and row.
enum SealedPlace {
    static func email(orderId: String) -> String { "sessions.customer_email:" + orderId }
    static func name(orderId: String) -> String { "sessions.customer_name:" + orderId }
    static func webhook(provider: String, eventId: String) -> String { "webhook_events.payload:\(provider):\(eventId)" }
    static func parkedDecision(orderId: String) -> String { "parked_decisions.decision:" + orderId }
    static func outboxRequest(idempotencyKey: String) -> String { "outbox.request:" + idempotencyKey }
    static func adminAnswer(key: String) -> String { "admin_requests.body:" + key }
}

extension OutboxRecord {
    /// Whether the call's request holds personal data: an email's address and name, or the
    /// name and email an ID session is opened with. Refunds and shop updates hold neither.
    var requestIsPersonal: Bool { Self.personalRequestProviders.contains(provider) }
    static let personalRequestProviders: [Provider] = [.sendgrid, .veriff]
}

extension FieldCipher {
    /// A JSON document sealed for a `{json}` column: the sealed text as a JSON string, which
    /// `jsonb` accepts.
    func sealJSON(_ json: String, context: String) throws -> String {
        let sealed = try seal(json, context: context)
        return sealed.isEmpty ? json : "\"" + sealed + "\""
    }

    /// The document a `{json}` column holds, opened if sealed (the sealed alphabet needs no escapes).
    func openJSON(_ stored: String, context: String) throws -> String {
        guard stored.hasPrefix("\"" + FieldCipher.prefix), stored.hasSuffix("\""), stored.utf8.count > 2 else { return stored }
        return try open(String(stored.dropFirst().dropLast()), context: context)
    }
}
