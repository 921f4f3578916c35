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
        let entry = AuditRecord(
            at: clock.now(), actor: actor, action: action, target: target, outcome: outcome,
            ip: context.remoteAddress, userAgent: request.headers[.userAgent].map { String($0.prefix(256)) },
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
