import Foundation
import VigilCore

enum ProviderJSON {
    /// The body as a JSON object; Authorize.Net prefixes its JSON with a byte-order mark.
    static func object(_ data: Data) -> [String: Any]? {
        var data = data
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data = data.dropFirst(3) }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func encode(_ value: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    static func string(_ value: Any?) -> String? {
        switch value {
        case let s as String: s
        case let n as NSNumber: n.stringValue
        default: nil
        }
    }
}

/// A credentials check's verdict from an HTTP status.
extension ProviderCheck {
    static func from(_ result: Result<OutboundResponse, any Error>) -> ProviderCheck {
        switch result {
        case .success: .ok
        case .failure(let error as ProviderError) where error.status == 401 || error.status == 403:
            .fail("credentials refused (HTTP \(error.status ?? 0))")
        case .failure(let error): .fail(String(describing: error))
        }
    }
}
