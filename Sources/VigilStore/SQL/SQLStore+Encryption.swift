import Foundation
import VigilCore

/// What `vigil reencrypt` rewrote: rows per table whose sealed columns were not under the
/// current key (sealed under an older key, or written before encryption).
public struct ReencryptionReport: Sendable, Equatable, Codable {
    public var sessions = 0
    public var webhooks = 0
    public var parkedDecisions = 0
    public var outbox = 0
    public var adminAnswers = 0
    public init() {}
    public var total: Int { sessions + webhooks + parkedDecisions + outbox + adminAnswers }
}

/// A table with sealed columns, as key rotation walks it.
struct SealedTable: Sendable {
    let name: String
    /// The primary key the walk pages by (text or integer).
    let key: String
    let textKey: Bool
    /// Other columns the places need.
    let extra: [String]
    let columns: [String]
    /// `{json}` columns hold the sealed text as a JSON string.
    let json: Bool
    let filter: String
    /// The associated data of a column's value in a row.
    let place: @Sendable (SQLRow, String) throws -> String

    static let all: [SealedTable] = [
        SealedTable(name: "sessions", key: "order_id", textKey: true, extra: [], columns: ["customer_email", "customer_name"],
                    json: false, filter: "") { row, column in
            let orderId = try row.text(required: "order_id")
            return column == "customer_email" ? SealedPlace.email(orderId: orderId) : SealedPlace.name(orderId: orderId)
        },
        SealedTable(name: "webhook_events", key: "id", textKey: false, extra: ["provider", "event_id"], columns: ["payload"],
                    json: true, filter: "") { row, _ in
            SealedPlace.webhook(provider: try row.text(required: "provider"), eventId: try row.text(required: "event_id"))
        },
        SealedTable(name: "parked_decisions", key: "id", textKey: false, extra: ["order_id"], columns: ["decision"],
                    json: true, filter: "") { row, _ in
            SealedPlace.parkedDecision(orderId: try row.text(required: "order_id"))
        },
        SealedTable(name: "admin_requests", key: "idempotency_key", textKey: true, extra: [], columns: ["body"],
                    json: false, filter: "") { row, _ in
            SealedPlace.adminAnswer(key: try row.text(required: "idempotency_key"))
        },
        SealedTable(name: "outbox", key: "id", textKey: false, extra: ["idempotency_key"], columns: ["request"],
                    json: true, filter: " AND provider IN (\(OutboxRecord.personalRequestProviders.map { "'\($0.rawValue)'" }.joined(separator: ", ")))") { row, _ in
            SealedPlace.outboxRequest(idempotencyKey: try row.text(required: "idempotency_key"))
        },
    ]
}

extension SQLStore {
    /// Opens the oldest and the newest customer email held, so a missing or wrong key stops the
    /// start with what to set, instead of failing each order's tasks one by one.
    public func checkEncryptionKeys() async throws {
        for order in ["ASC", "DESC"] {
            let rows = try await driver.read(SQLStatement(
                "SELECT order_id, customer_email FROM sessions WHERE customer_email <> '' ORDER BY created_at \(order), order_id LIMIT 1"))
            guard let row = rows.first else { return }
            let orderId = try row.text(required: "order_id")
            _ = try cipher.open(try row.text(required: "customer_email"), context: SealedPlace.email(orderId: orderId))
        }
    }

    public func reencryptPersonalData(batchSize: Int = 500) async throws -> ReencryptionReport {
        var report = ReencryptionReport()
        for table in SealedTable.all {
            let n = try await reseal(table, batchSize: batchSize)
            switch table.name {
            case "sessions": report.sessions = n
            case "webhook_events": report.webhooks = n
            case "parked_decisions": report.parkedDecisions = n
            case "admin_requests": report.adminAnswers = n
            default: report.outbox = n
            }
        }
        return report
    }

    /// Walks `table` by its key, a batch to a transaction (rows locked while rewritten, so a
    /// concurrent change is never overwritten with an older value), resealing what is not current.
    private func reseal(_ table: SealedTable, batchSize: Int) async throws -> Int {
        var cursor: SQLValue = table.textKey ? .text(nil) : .int(nil)
        var rewritten = 0
        let select = """
            SELECT \(([table.key] + table.extra + table.columns).joined(separator: ", ")) FROM \(table.name)
            WHERE (? IS NULL OR \(table.key) > ?)\(table.filter) ORDER BY \(table.key) LIMIT ?\(dialect.lockForUpdate)
            """
        let update = "UPDATE \(table.name) SET \(table.columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE \(table.key) = ?"
        while true {
            let (count, last, changed): (Int, SQLValue, Int) = try await transaction("reencrypt") { [cipher, cursor] tx in
                let rows = try await tx.connection.query(SQLStatement(select, [cursor, cursor, .int(batchSize)]))
                var changed = 0
                for row in rows {
                    var values: [SQLValue] = []
                    var stale = false
                    for column in table.columns {
                        guard let stored = try row.text(column) else {
                            values.append(table.json ? .json(nil) : .text(nil))
                            continue
                        }
                        let place = try table.place(row, column)
                        let current = table.json
                            ? stored == "{}" || stored.hasPrefix("\"" + FieldCipher.prefix + cipher.current.id + ":")
                            : cipher.isCurrent(stored)
                        if !current { stale = true }
                        let value = current ? stored
                            : table.json ? try cipher.sealJSON(try cipher.openJSON(stored, context: place), context: place)
                            : try cipher.seal(try cipher.open(stored, context: place), context: place)
                        values.append(table.json ? .json(value) : .text(value))
                    }
                    guard stale else { continue }
                    let key: SQLValue = table.textKey ? .text(try row.text(required: table.key)) : .int(try row.int64(required: table.key))
                    _ = try await tx.connection.execute(SQLStatement(update, values + [key]))
                    changed += 1
                }
                guard let lastRow = rows.last else { return (0, cursor, 0) }
                let last: SQLValue = table.textKey ? .text(try lastRow.text(required: table.key)) : .int(try lastRow.int64(required: table.key))
                return (rows.count, last, changed)
            }
            rewritten += changed
            cursor = last
            if count < batchSize { return rewritten }
        }
    }
}
