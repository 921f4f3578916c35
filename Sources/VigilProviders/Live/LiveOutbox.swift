import Foundation
import VigilCore
import VigilStore

/// Live calls are recorded in the outbox too, after they succeed, under the task's idempotency
/// key. A task retried after a call that succeeded (its worker died before committing) finds the
/// record and reuses the answer instead of calling again: this is what keeps providers without an
/// idempotency header (Veriff, SendGrid) from seeing the same call twice, short of a crash in the
/// instant between the provider's answer and this record.
struct LiveOutbox: Sendable {
    let store: any Store
    let clock: any VigilClock

    /// The response recorded by an earlier attempt of this call, if it already succeeded.
    func earlierResponse<Response: Decodable>(_ type: Response.Type, call: ProviderCall) async throws -> Response? {
        guard let record = try await store.outbox(idempotencyKey: call.idempotencyKey), record.mode == "live",
              let response = record.response else { return nil }
        return try? JSONCoding.decode(type, from: response)
    }

    func alreadyDone(_ call: ProviderCall) async throws -> Bool {
        try await store.outbox(idempotencyKey: call.idempotencyKey)?.mode == "live"
    }

    /// `request` is Vigil's own description of the call (no credentials); `response` what to reuse.
    func record<Request: Encodable, Response: Encodable>(
        provider: String, operation: String, request: Request, response: Response, call: ProviderCall
    ) async throws {
        let entry = OutboxRecord(
            idempotencyKey: call.idempotencyKey, provider: provider, operation: operation, orderId: call.orderId,
            taskId: call.taskId, mode: "live", request: try JSONCoding.string(request),
            response: try JSONCoding.string(response), at: clock.now())
        _ = try await store.write { tx in try await tx.recordOutbox(entry) }
    }
}

/// Parsing helpers for provider answers.
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
