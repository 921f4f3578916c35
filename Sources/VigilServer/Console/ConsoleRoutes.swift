import Foundation
import HTTPTypes
import Hummingbird
import VigilCore
import VigilFlow
import VigilQueue
import VigilStore

/// The staff console (`/console`): sign-in, the overview, orders, one order with its history and
/// actions, the review queue, tasks and the audit log. Server-rendered; every form carries the
/// session's CSRF token; acting needs the `operator` role; every action is audited with its actor.
/// Its routes are not part of the JSON API, so they are registered on the router directly (the
/// OpenAPI description covers the API only).
struct ConsoleRoutes {
    let services: AppServices
    var auth: ConsoleAuth { ConsoleAuth(services: services) }
    var templates: ConsoleTemplates { ConsoleTemplates.shared }
    var auditor: Auditor { Auditor(store: services.store, clock: services.clock) }

    func register(on router: Router<VigilRequestContext>) {
        router.get("/console/assets/console.css") { _, _ in ConsolePage.asset(ConsoleTemplates.stylesheet, type: "text/css; charset=utf-8") }
        router.get("/console/assets/console.js") { _, _ in ConsolePage.asset(ConsoleTemplates.script, type: "text/javascript; charset=utf-8") }
        router.get("/console/sign-in") { request, _ in try await signInPage(request) }
        router.post("/console/sign-in") { request, context in try await signIn(request, context) }
        router.post("/console/sign-out") { request, context in try await signOut(request, context) }
        router.get("/console") { request, _ in try await page(request) { try await overview($0) } }
        router.get("/console/orders") { request, _ in try await page(request) { try await orders(request, $0) } }
        router.get("/console/orders/:orderId") { request, context in
            let orderId = try context.pathParameter("orderId")
            return try await page(request) { try await order(orderId, request, $0) }
        }
        router.post("/console/orders/:orderId/:action") { request, context in
            let orderId = try context.pathParameter("orderId"), name = try context.parameters.require("action")
            return try await act(name, orderId: orderId, request, context)
        }
        router.get("/console/review") { request, _ in try await page(request) { try await reviews($0) } }
        router.post("/console/review/:id/resolve") { request, context in
            let id = try context.parameters.require("id")
            return try await resolve(id, request, context)
        }
        router.get("/console/tasks") { request, _ in try await page(request) { try await tasks(request, $0) } }
        router.post("/console/tasks/:id/retry") { request, context in
            let id = try context.parameters.require("id")
            return try await retry(id, request, context)
        }
        router.get("/console/audit") { request, _ in try await page(request) { try await audit(request, $0) } }
    }

    // MARK: Sign-in

    private func signInPage(_ request: Request, error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        if error == nil, try await auth.session(request) != nil { return ConsolePage.redirect("/console") }
        struct View { var error: String?; var development: Bool }
        let view = View(error: error, development: services.config.environment == .development)
        return ConsolePage.html(templates.page("sign-in", view, layout: LayoutView(title: "Sign in")), status: status)
    }

    private func signIn(_ request: Request, _ context: VigilRequestContext) async throws -> Response {
        let form = try await ConsolePage.form(request)
        let name = form["name"] ?? "", password = form["password"] ?? ""
        guard !name.isEmpty, !password.isEmpty, name.utf8.count <= 64, password.utf8.count <= 1024 else {
            return try await signInPage(request, error: "Enter your user name and password.", status: .badRequest)
        }
        switch try await auth.signIn(name: name, password: password, request: request, context: context) {
        case .signedIn(let token, let session):
            var response = ConsolePage.redirect("/console")
            response.setCookie(auth.cookie(token: token, expires: session.expiresAt))
            return response
        case .refused:
            return try await signInPage(request, error: "That user name and password do not match an active account.", status: .unauthorized)
        case .limited:
            return try await signInPage(request, error: "Too many failed sign-ins. Wait 15 minutes, or ask an administrator to reset the password.",
                                        status: .tooManyRequests)
        }
    }

    private func signOut(_ request: Request, _ context: VigilRequestContext) async throws -> Response {
        guard let session = try await auth.session(request) else { return ConsolePage.redirect("/console/sign-in") }
        let form = try await ConsolePage.form(request)
        guard ConstantTime.equals(form["csrf"] ?? "", session.csrfToken) else { return forbidden(session, "The form was missing its security token. Reload the page and try again.") }
        try await auth.signOut(request)
        await auditor.record("console.sign_out", actor: "user:" + session.user.name, target: nil, outcome: "ok", request: request, context: context)
        var response = ConsolePage.redirect("/console/sign-in")
        response.setCookie(auth.cookie(token: "", expires: nil))
        return response
    }

    // MARK: Pages

    /// A page for a signed-in user; others are sent to sign in.
    private func page(_ request: Request, _ body: (ConsoleSession) async throws -> Response) async throws -> Response {
        guard let session = try await auth.session(request) else { return ConsolePage.redirect("/console/sign-in") }
        return try await body(session)
    }

    private func layout(_ title: String, _ session: ConsoleSession, section: String, flash: String? = nil, error: String? = nil,
                        refresh: Int? = nil) -> LayoutView {
        LayoutView(title: title, user: session.user.name, role: session.user.role.rawValue, csrf: session.csrfToken, section: section,
                   flash: flash, error: error, refreshSeconds: refresh)
    }

    private func overview(_ session: ConsoleSession) async throws -> Response {
        let store = services.store, now = services.clock.now()
        let timeZone = services.config.policy.timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let counts = try await store.overviewCounts(now: now, dayStart: calendar.startOfDay(for: now), horizon: now.addingTimeInterval(6 * 3600))
        let dueSoon = try await store.pendingSessions(deadlineBefore: now.addingTimeInterval(6 * 3600), limit: 10)
        let stats = try await store.queueStats(queues: services.queues, now: now)
        let decided = try await store.decidedSessions(since: now.addingTimeInterval(-15 * 86_400), limit: 50_000)
        let days = Charts.days(decided, days: 14, now: now, timeZone: timeZone)
        let circuits = services.providers.circuits(now)
        struct Count { var state: String; var count: Int; var href: String }
        struct Queue { var name: String; var due: Int; var running: Int; var dead: Int; var oldest: String; var lastError: String? }
        struct Health { var provider: String; var status: String; var ok: Bool }
        var queues: [Queue] = []
        for stat in stats {
            let failing = try await store.tasks(queue: stat.queue, state: .retrying, limit: 1).first
            queues.append(Queue(name: stat.queue, due: stat.due, running: stat.running, dead: stat.dead,
                                oldest: stat.oldestDue.map { Words.relative($0, from: now) } ?? "—",
                                lastError: failing?.lastError.map { String($0.prefix(200)) }))
        }
        let health: [Health] = services.config.live == nil
            ? [Health(provider: "all providers", status: "sandbox: calls are recorded in the outbox, nothing is sent", ok: true)]
            : Provider.allCases.map { provider in
                let open = circuits[provider] ?? false
                return Health(provider: provider.rawValue, status: open ? "circuit open: calls are paused after repeated failures" : "ok", ok: !open)
            }
        struct View {
            var counts: [Count]; var dueSoon: [OrderRow]; var refundsToday: Int; var refundsFailed: Int; var openReviews: Int
            var dead: Int; var queues: [Queue]; var health: [Health]; var outcomes: String; var latency: String; var dueSoonCount: Int; var hasDueSoon: Bool
        }
        let view = View(
            counts: SessionState.allCases.map { Count(state: $0.rawValue, count: counts.byState[$0] ?? 0, href: "/console/orders?state=\($0.rawValue)") },
            dueSoon: dueSoon.map { OrderRow($0, now: now) }, refundsToday: counts.refundsToday, refundsFailed: counts.refundsFailed,
            openReviews: counts.openReviews, dead: stats.map(\.dead).reduce(0, +), queues: queues, health: health,
            outcomes: Charts.outcomes(days), latency: Charts.timeToDecision(days), dueSoonCount: counts.dueSoon,
            hasDueSoon: !dueSoon.isEmpty)
        return ConsolePage.html(templates.page("overview", view, layout: layout("Overview", session, section: "overview", refresh: 60)))
    }

    private func orders(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters, now = services.clock.now(), store = services.store
        let stateText = query.get("state") ?? "", search = (query.get("q") ?? "").trimmingCharacters(in: .whitespaces)
        let state = SessionState(rawValue: stateText)
        var rows: [SessionRecord] = []
        var next: String?
        var error: String?
        if search.utf8.count > 320 {
            error = "The search is too long."
        } else if search.contains("@") {
            rows = try await store.sessions(customerKey: services.config.customerKeys.email(search), limit: 100)
        } else if !search.isEmpty {
            rows = try await store.session(orderId: search).map { [$0] } ?? []
        } else {
            let cursor = query.get("cursor").flatMap(OrderCursor.decode)
            rows = try await store.sessions(state: state, since: nil, until: nil, after: cursor, limit: 50)
            if rows.count == 50, let last = rows.last {
                next = "/console/orders?state=\(HTML.component(stateText))&cursor="
                    + HTML.component(OrderCursor.encode(SessionCursor(createdAt: last.createdAt, orderId: last.orderId)))
            }
        }
        struct Option { var value: String; var label: String; var selected: Bool }
        struct View { var rows: [OrderRow]; var q: String; var states: [Option]; var next: String?; var empty: Bool; var searching: Bool }
        let view = View(rows: rows.map { OrderRow($0, now: now) }, q: search,
                        states: [Option(value: "", label: "any", selected: state == nil)]
                            + SessionState.allCases.map { Option(value: $0.rawValue, label: $0.rawValue, selected: $0 == state) },
                        next: next, empty: rows.isEmpty, searching: !search.isEmpty)
        return ConsolePage.html(templates.page("orders", view, layout: layout("Orders", session, section: "orders", error: error)))
    }

    private func order(_ orderId: String, _ request: Request, _ session: ConsoleSession,
                       error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let store = services.store, now = services.clock.now()
        guard let record = try await store.session(orderId: orderId) else {
            return ConsolePage.html(templates.page("message", Message(title: "No such order", text: "Vigil has no verification session for order \(orderId).",
                                                                       link: "/console/orders", linkText: "Back to the orders"),
                                                   layout: layout("Not found", session, section: "orders")), status: .notFound)
        }
        let view = OrderPageView(
            session: record, tasks: try await store.tasks(orderId: orderId), events: try await store.eventLog(orderId: orderId),
            outbox: try await store.outbox(orderId: orderId), attempts: try await store.attempts(orderId: orderId), webhooks: try await store.webhooks(orderId: orderId, limit: 100),
            now: now, canAct: session.user.role == .operator, csrf: session.csrfToken, customerPage: services.config.flowSettings.pageURL(record))
        let flash = request.uri.queryParameters.get("done").flatMap { Self.doneMessages[$0] }
        return ConsolePage.html(templates.page("order", view, layout: layout("Order \(orderId)", session, section: "orders", flash: flash, error: error)),
                                status: status)
    }

    static let doneMessages = [
        "approve": "Approved: the order is released and the customer told.",
        "decline": "Declined: the refund, the email and the cancellation at the shop are on their way.",
        "resend": "The verification link is being sent again.",
        "extend": "The deadline was moved.",
        "cancel": "Cancelled: timers stopped, nothing refunded.",
        "resolved": "Review resolved.",
        "erase": "The customer's personal data is erased; the order's state, amounts and history stay.",
        "retried": "The task will run again now.",
    ]

    private func reviews(_ session: ConsoleSession, flash: String? = nil) async throws -> Response {
        struct View { var rows: [ReviewRow]; var canAct: Bool; var csrf: String; var empty: Bool }
        let rows = try await services.store.reviews(limit: 200).map(ReviewRow.init)
        let view = View(rows: rows, canAct: session.user.role == .operator, csrf: session.csrfToken, empty: rows.isEmpty)
        return ConsolePage.html(templates.page("review", view, layout: layout("Review", session, section: "review", flash: flash)))
    }

    private func tasks(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters
        let state = TaskState(rawValue: query.get("state") ?? "dead") ?? .dead
        let rows = try await services.store.tasks(queue: nil, state: state, limit: 200).map(TaskListRow.init)
        struct Option { var value: String; var selected: Bool }
        struct View { var rows: [TaskListRow]; var states: [Option]; var canAct: Bool; var csrf: String; var empty: Bool; var state: String }
        let view = View(rows: rows, states: TaskState.allCases.map { Option(value: $0.rawValue, selected: $0 == state) },
                        canAct: session.user.role == .operator, csrf: session.csrfToken, empty: rows.isEmpty, state: state.rawValue)
        let flash = query.get("done").flatMap { Self.doneMessages[$0] }
        return ConsolePage.html(templates.page("tasks", view, layout: layout("Tasks", session, section: "tasks", flash: flash)))
    }

    private func audit(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let before = request.uri.queryParameters.get("before").flatMap { Int64($0) }
        let rows = try await services.store.audit(beforeId: before, limit: 100)
        struct View { var rows: [AuditRow]; var next: String? }
        let view = View(rows: rows.map(AuditRow.init), next: rows.count == 100 ? rows.last.map { "/console/audit?before=\($0.id)" } : nil)
        return ConsolePage.html(templates.page("audit", view, layout: layout("Audit log", session, section: "audit")))
    }

    // MARK: Actions

    /// Runs a POST from a signed-in operator whose form carries the session's CSRF token; anything
    /// else changes nothing (403 for a missing token or a viewer).
    private func acting(_ request: Request, _ context: VigilRequestContext, action: String, target: String,
                        _ body: (ConsoleSession, [String: String]) async throws -> Response) async throws -> Response {
        guard let session = try await auth.session(request) else { return ConsolePage.redirect("/console/sign-in") }
        let form = try await ConsolePage.form(request)
        let actor = "user:" + session.user.name
        guard let csrf = form["csrf"], ConstantTime.equals(csrf, session.csrfToken) else {
            await auditor.record(action, actor: actor, target: target, outcome: "rejected:csrf", request: request, context: context)
            return forbidden(session, "The form was missing its security token, so nothing was changed. Reload the page and try again.")
        }
        guard session.user.role == .operator else {
            await auditor.record(action, actor: actor, target: target, outcome: "rejected:role", request: request, context: context)
            return forbidden(session, "Your account can view orders but not act on them; ask for the operator role.")
        }
        return try await body(session, form)
    }

    private func forbidden(_ session: ConsoleSession, _ text: String) -> Response {
        ConsolePage.html(templates.page("message", Message(title: "Not allowed", text: text, link: "/console", linkText: "Back to the overview"),
                                        layout: layout("Not allowed", session, section: "")), status: .forbidden)
    }

    private func act(_ name: String, orderId: String, _ request: Request, _ context: VigilRequestContext) async throws -> Response {
        let auditAction = "order." + String(name.prefix(16))
        return try await acting(request, context, action: auditAction, target: orderId) { session, form in
            let actor = "user:" + session.user.name
            let now = services.clock.now()
            if name == "erase" {
                // The customer's request to be forgotten: personal data goes, the record stays.
                let result = try await services.store.eraseOrder(orderId, at: now)
                await auditor.record(auditAction, actor: actor, target: orderId, outcome: result.rawValue, request: request, context: context)
                guard result == .erased || result == .alreadyErased else {
                    return try await order(orderId, request, session, error: "Not done: only a decided order's data can be erased.", status: .conflict)
                }
                return ConsolePage.redirect("/console/orders/\(HTML.component(orderId))?done=erase")
            }
            let action: OperatorAction
            switch name {
            case "approve": action = .approve
            case "decline": action = .decline
            case "resend": action = .resend
            case "cancel": action = .cancel
            case "extend":
                guard let record = try await services.store.session(orderId: orderId) else {
                    return try await order(orderId, request, session)
                }
                guard let by = form["by"].flatMap({ try? DurationText.parse($0) }), by > 0 else {
                    return try await order(orderId, request, session, error: "Give how much longer, such as 24h or 2d.", status: .badRequest)
                }
                action = .extend(to: max(record.deadline, now).addingTimeInterval(by))
            default:
                return ConsolePage.html(templates.page("message", Message(title: "No such action", text: "The console has no action '\(name.prefix(32))'.",
                                                                           link: "/console/orders", linkText: "Back to the orders"),
                                                       layout: layout("Not found", session, section: "orders")), status: .notFound)
            }
            do {
                _ = try await services.flow.act(action, orderId: orderId, actor: actor)
            } catch let refused as ActionRefused {
                await auditor.record(auditAction, actor: actor, target: orderId, outcome: "refused", request: request, context: context)
                return try await order(orderId, request, session, error: "Not done: \(refused.description).", status: .conflict)
            }
            await auditor.record(auditAction, actor: actor, target: orderId, outcome: "ok", request: request, context: context)
            return ConsolePage.redirect("/console/orders/\(HTML.component(orderId))?done=\(name)")
        }
    }

    private func resolve(_ idText: String, _ request: Request, _ context: VigilRequestContext) async throws -> Response {
        try await acting(request, context, action: "review.resolve", target: String(idText.prefix(20))) { session, form in
            let actor = "user:" + session.user.name
            let note = (form["note"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard let id = Int64(idText), !note.isEmpty, note.utf8.count <= 2000 else {
                return ConsolePage.html(templates.page("message", Message(title: "Not resolved", text: "A review is resolved with a note of what was done (up to 2000 characters).",
                                                                           link: "/console/review", linkText: "Back to the review queue"),
                                                       layout: layout("Review", session, section: "review")), status: .badRequest)
            }
            let resolved = try await services.store.resolveReview(id: id, by: actor, note: note, at: services.clock.now())
            await auditor.record("review.resolve", actor: actor, target: idText, outcome: resolved ? "ok" : "not_open", request: request, context: context)
            return ConsolePage.redirect("/console/review")
        }
    }

    private func retry(_ idText: String, _ request: Request, _ context: VigilRequestContext) async throws -> Response {
        try await acting(request, context, action: "task.retry", target: String(idText.prefix(20))) { session, _ in
            let actor = "user:" + session.user.name
            guard let id = Int64(idText) else { return ConsolePage.redirect("/console/tasks") }
            let retried = try await services.store.retryDeadTask(id: id, now: services.clock.now())
            await auditor.record("task.retry", actor: actor, target: idText, outcome: retried ? "retried" : "not_dead", request: request, context: context)
            return ConsolePage.redirect(retried ? "/console/tasks?done=retried" : "/console/tasks")
        }
    }
}

/// A page that only says something, with a way back.
struct Message {
    var title: String
    var text: String
    var link: String?
    var linkText: String?
}
