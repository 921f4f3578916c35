import Foundation
import Hummingbird
import VigilCore
import VigilQueue
import VigilStore

/// The admin API's task queue: listing, re-driving a dead task, cancelling one.
struct TaskRoutes {
    let access: AdminAccess
    var services: AppServices { access.services }
    var auditor: Auditor { access.auditor }

    func register(on router: RouteTable) {
        router.get("/api/v1/tasks") { request, context in
            let query = request.uri.queryParameters
            let state: TaskState? = try AdminAccess.choice(query.get("state"), name: "state")
            let queue = query.get("queue").flatMap { $0.isEmpty ? nil : $0 }
            let limit = try AdminAccess.limit(query.get("limit"))
            return try await access.read(request, context: context, action: "tasks.list") {
                TaskList(tasks: try await services.store.tasks(queue: queue, state: state, limit: limit).map(TaskView.init))
            }
        }
        router.post("/api/v1/tasks/:id/retry") { request, context in
            let id = try Self.taskId(context)
            let actor = try await access.authorize(request, context: context, action: "task.retry", target: "\(id)")
            return try await access.idempotent(request, context: context, actor: actor) {
                guard let task = try await services.store.task(id: id) else {
                    await auditor.record("task.retry", actor: actor, target: "\(id)", outcome: "not_found", request: request, context: context)
                    throw Problem.notFound("no task \(id)")
                }
                guard try await services.store.retryDeadTask(id: id, now: services.clock.now()) else {
                    await auditor.record("task.retry", actor: actor, target: "\(id)", outcome: "refused:\(task.state.rawValue)",
                                         request: request, context: context)
                    throw Problem(.conflict, "conflict", "Conflict",
                                  detail: "task \(id) is \(task.state.rawValue); only dead tasks can be re-driven")
                }
                await auditor.record("task.retry", actor: actor, target: "\(id)", outcome: "retried", request: request, context: context)
                return TaskRetried(retried: true, task: try await services.store.task(id: id).map(TaskView.init))
            }
        }
        router.delete("/api/v1/tasks/:id") { request, context in
            let id = try Self.taskId(context)
            let actor = try await access.authorize(request, context: context, action: "task.cancel", target: "\(id)")
            return try await access.idempotent(request, context: context, actor: actor) {
                guard try await services.store.task(id: id) != nil else {
                    await auditor.record("task.cancel", actor: actor, target: "\(id)", outcome: "not_found", request: request, context: context)
                    throw Problem.notFound("no task \(id)")
                }
                // Cancelling a finished task is not an error: the answer says it was not cancelled now.
                let cancelled = try await services.store.cancelTask(id: id, now: services.clock.now())
                await auditor.record("task.cancel", actor: actor, target: "\(id)", outcome: cancelled ? "cancelled" : "already_finished",
                                     request: request, context: context)
                return TaskCancelled(cancelled: cancelled, task: try await services.store.task(id: id).map(TaskView.init))
            }
        }
    }

    static func taskId(_ context: VigilRequestContext) throws -> Int64 {
        let text = try context.pathParameter("id")
        guard let id = Int64(text), id > 0 else { throw Problem.badRequest("task id must be a positive integer, not '\(text.prefix(32))'") }
        return id
    }
}
