import Foundation
import Hummingbird
import VigilCore
import VigilStore

/// The admin API's records: the event log as NDJSON, the manual-review list, the audit log.
struct LogRoutes {
    let access: AdminAccess
    var services: AppServices { access.services }

    func register(on router: RouteTable) {
        router.get("/api/v1/events") { request, context in
            let actor = try await access.authorize(request, context: context, action: "events.export", target: nil)
            let query = request.uri.queryParameters
            let now = services.clock.now()
            let since = try AdminAccess.time(query.get("since"), name: "since", now: now)
            let until = try AdminAccess.time(query.get("until"), name: "until", now: now)
            await access.auditor.record("events.export", actor: actor, target: nil, outcome: "ok", request: request, context: context)
            // Reach the store once before the 200 goes out, so an outage is still a 503 problem.
            try await datastore(context.logger) { try await services.store.ping() }
            let store = services.store
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody { writer in
                try await EventExport.forEachPage(store, since: since, until: until) { try await writer.write(ByteBuffer(string: $0)) }
                try await writer.finish(nil)
            })
        }
        router.get("/api/v1/reviews") { request, context in
            let limit = try AdminAccess.limit(request.uri.queryParameters.get("limit"))
            return try await access.read(request, context: context, action: "reviews.list") {
                ReviewList(reviews: try await services.store.reviews(limit: limit).map(ReviewView.init))
            }
        }
        router.get("/api/v1/audit") { request, context in
            let limit = try AdminAccess.limit(request.uri.queryParameters.get("limit"))
            return try await access.read(request, context: context, action: "audit.list") {
                AuditList(audit: try await services.store.audit(limit: limit).map(AuditView.init))
            }
        }
    }
}
