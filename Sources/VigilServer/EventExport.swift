import Foundation
import VigilCore
import VigilStore

/// NDJSON rows of the event log. Field names are stable (documented in the README) so a
/// warehouse table can be defined once: id INT64, orderId STRING, type STRING, at TIMESTAMP, data JSON.
public enum EventExport {
    public static func line(_ event: EventLogEntry) throws -> String {
        try APIJSON.text(ExportLine(id: event.id, orderId: event.orderId, type: event.type, at: event.at,
                                    data: JSONValue(parsing: event.data)))
    }

    /// A point in time as users write it: RFC 3339, a date, or a duration meaning that long ago.
    /// Nil for anything else, and for a time outside the years 1 to 9999.
    public static func time(_ text: String, now: Date) -> Date? {
        guard text.utf8.count <= 64 else { return nil }
        let date = Timestamp.parse(text) ?? (try? DurationText.parse(text)).map { now.addingTimeInterval(-$0) }
        guard let date, date >= Timestamp.earliest, date <= Timestamp.latest else { return nil }
        return date
    }

    public static let timeHelp = "use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or a duration ago (24h)"

    /// Every event with `since <= at < until`, in id order, handed to `emit` a page of NDJSON
    /// lines at a time, so an export of any size runs in constant memory.
    public static func forEachPage(_ store: any Store, since: Date?, until: Date?, pageSize: Int = 1000,
                                   _ emit: (String) async throws -> Void) async throws {
        var afterId: Int64 = 0
        while true {
            let page = try await store.eventLog(since: since, until: until, afterId: afterId, limit: pageSize)
            guard let last = page.last else { return }
            try await emit(try page.map { try line($0) + "\n" }.joined())
            afterId = last.id
        }
    }
}
