import Foundation
import HTTPTypes
import Hummingbird
import Logging
import VigilCore
import VigilStore

/// Who did what, when, from where: one row in the audit table and one log line per admin
/// action and per rejected admin or webhook authentication. Actors are token ids, never tokens.
struct Auditor: Sendable {
    let store: any Store
    let clock: any VigilClock

    func record(_ action: String, actor: String, target: String?, outcome: String,
                request: Request, context: VigilRequestContext) async {
        let target = target.map { BoundedText.cut($0) }
        let entry = AuditRecord(
            at: clock.now(), actor: actor, action: action, target: target, outcome: outcome,
            ip: context.remoteAddress, userAgent: request.headers[.userAgent].map { BoundedText.cut($0) },
            requestId: context.requestId)
        context.logger.notice("audit", metadata: [
            "audit_action": .string(action), "audit_actor": .string(actor), "audit_target": .string(target ?? ""),
            "audit_outcome": .string(outcome), "client_ip": .string(entry.ip ?? ""),
        ])
        do {
            try await store.write { tx in try await tx.appendAudit(entry) }
        } catch {
            // The log line above is the second record; the request itself goes on.
            context.logger.error("audit row could not be written", metadata: ["error": "\(error)"])
        }
    }
}

/// Text from a request cut to a bound before it is logged or stored, on a character boundary,
/// so an unauthenticated caller cannot make an audit row or a log line as large as its request.
enum BoundedText {
    static func cut(_ text: String, maxBytes: Int = 256) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var result = ""
        var used = 0
        let marker = "…"
        for character in text {
            let size = character.utf8.count
            if used + size + marker.utf8.count > maxBytes { break }
            result.append(character)
            used += size
        }
        return result + marker
    }
}
