import Foundation
import VigilCore
import VigilStore

/// NDJSON rows of the event log. Field names are stable (documented in the README) so a
/// warehouse table can be defined once: id INT64, orderId STRING, type STRING, at TIMESTAMP, data JSON.
public enum EventExport {
    public static func line(_ event: EventRecord) -> String {
        var row: [String: Any] = [
            "id": event.id, "type": event.type, "at": Timestamp.string(event.at), "data": JSONCoding.parseAny(event.data),
        ]
        row["orderId"] = event.orderId ?? NSNull()
        return JSONCoding.objectAny(row)
    }
}
