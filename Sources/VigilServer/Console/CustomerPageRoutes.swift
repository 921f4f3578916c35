import Foundation
import HTTPTypes
import Hummingbird
import VigilCore
import VigilFlow
import VigilStore

/// The customer's page behind the email link (`/v/{token}`): what the shop needs and by when,
/// a button to the ID provider's session, and the outcome once there is one. It shows the order
/// number and the customer's first name, nothing more. In sandbox mode it also offers approve and
/// decline, recorded as the sandbox ID provider's decisions, so the whole flow can be tried in a
/// browser with nothing configured.
struct CustomerPageRoutes {
    let services: AppServices
    var templates: ConsoleTemplates { ConsoleTemplates.shared }

    /// How long after its decision a link still shows the outcome.
    static let linkLifetimeAfterDecision: TimeInterval = 30 * 86_400

    func register(on router: Router<VigilRequestContext>) {
        router.get("/v/:token") { request, context in
            try await show(try context.pathParameter("token"))
        }
        router.post("/v/:token/sandbox") { request, context in
            try await sandbox(try context.pathParameter("token"), request)
        }
    }

    /// The session behind a token, if the token is genuine and not past its life.
    private func session(_ token: String) async throws -> SessionRecord? {
        guard let linkId = services.config.customerLinks.linkId(token: token),
              let session = try await services.store.session(linkId: linkId) else { return nil }
        if let decided = session.decidedAt, services.clock.now().timeIntervalSince(decided) > Self.linkLifetimeAfterDecision { return nil }
        return session
    }

    private func show(_ token: String) async throws -> Response {
        guard let session = try await session(token) else {
            return page(Message(title: "This link does not work",
                                text: "It may have expired or been copied incompletely. Please use the newest email from the shop, or contact the shop."),
                        template: "message", title: "Link not valid", status: .notFound)
        }
        let now = services.clock.now(), timeZone = services.config.policy.timeZone
        struct View {
            var orderId: String; var firstName: String?; var pending: Bool; var ready: Bool; var verificationURL: String?
            var deadline: String; var timeLeft: String; var review: Bool; var approved: Bool; var declined: Bool
            var expired: Bool; var cancelled: Bool; var refunded: Bool; var sandbox: Bool; var sandboxAction: String
            var minimumAge: Int; var sampleBirthDate: String
        }
        let minimumAge = session.minimumAge ?? services.config.policy.minimumAge
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let sample = calendar.date(byAdding: .year, value: -(minimumAge + 5), to: now).map { LocalDate($0, in: timeZone).description } ?? "1990-01-01"
        let pending = session.state == .pending
        let view = View(
            orderId: session.orderId, firstName: Words.firstName(session.customerName), pending: pending && session.reviewReason == nil,
            // In the sandbox the provider's link leads nowhere: the button goes to the sandbox's own decision.
            ready: session.verificationURL != nil,
            verificationURL: services.config.live == nil ? "#sandbox-title" : session.verificationURL,
            deadline: Words.deadline(session.deadline, timeZone: timeZone), timeLeft: Words.relative(session.deadline, from: now),
            review: pending && session.reviewReason != nil, approved: [.approved, .notRequired].contains(session.state),
            declined: session.state == .declined, expired: session.state == .expired, cancelled: session.state == .cancelled,
            refunded: session.refundStatus != .none, sandbox: services.config.live == nil && pending,
            sandboxAction: "/v/\(HTML.component(token))/sandbox", minimumAge: minimumAge, sampleBirthDate: sample)
        // A page waiting for the provider's session refreshes itself until the link is there.
        let refresh = pending && session.verificationURL == nil ? 5 : nil
        return page(view, template: "customer", title: "Verify your age for order \(session.orderId)", refresh: refresh)
    }

    /// Sandbox only: the customer's choice recorded as the sandbox provider's decision, through
    /// the same path a signed Veriff decision takes.
    private func sandbox(_ token: String, _ request: Request) async throws -> Response {
        guard services.config.live == nil else {
            return page(Message(title: "Not available", text: "Decisions come from the ID provider."), template: "message", title: "Not available", status: .notFound)
        }
        guard let session = try await session(token) else { return ConsolePage.redirect("/v/\(HTML.component(token))") }
        let form = try await ConsolePage.form(request)
        let decision: VerificationDecision = form["decision"] == "declined" ? .declined : .approved
        var birth: LocalDate?
        if decision == .approved {
            guard let text = form["dateOfBirth"], let date = LocalDate(iso: text) else {
                return page(Message(title: "Date of birth needed", text: "Enter a date of birth as YYYY-MM-DD to try an approval.",
                                    link: "/v/\(HTML.component(token))", linkText: "Back"), template: "message", title: "Date of birth needed",
                            status: .badRequest)
            }
            birth = date
        }
        let eventId = "sandbox-" + CustomerLinks.newId()
        _ = try await services.flow.receiveDecision(DecisionEvent(
            eventId: eventId, orderId: session.orderId, verificationId: session.verificationId, decision: decision,
            code: decision == .approved ? 9001 : 9102, reason: decision == .declined ? "declined in the sandbox" : nil,
            dateOfBirth: birth, decidedAt: services.clock.now()))
        return ConsolePage.redirect("/v/\(HTML.component(token))")
    }

    private func page(_ view: Any, template: String, title: String, status: HTTPResponse.Status = .ok, refresh: Int? = nil) -> Response {
        ConsolePage.html(templates.page(template, view, layout: LayoutView(title: title, refreshSeconds: refresh)), status: status)
    }
}
