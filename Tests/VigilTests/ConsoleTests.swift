import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
@testable import VigilServer
import VigilStore

/// The console and the customer page over HTTP: sign-in, cookies, CSRF, roles, escaping of
/// hostile values in every template, redaction, the customer link, and the actions' API twin.
extension HTTPContractTests {
    static let password = "correct horse battery"

    /// A browser: keeps the session cookie between requests.
    final class Browser: @unchecked Sendable {
        let client: any TestClientProtocol
        var cookie: String?
        init(_ client: any TestClientProtocol) { self.client = client }

        func get(_ path: String) async throws -> TestResponse {
            var headers = HTTPFields()
            if let cookie { headers[.cookie] = cookie }
            return try await client.executeRequest(uri: path, method: .get, headers: headers, body: nil)
        }

        func post(_ path: String, _ form: [String: String]) async throws -> TestResponse {
            var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            if let cookie { headers[.cookie] = cookie }
            let body = form.map { "\(HTML.component($0.key))=\(HTML.component($0.value))" }.joined(separator: "&")
            let response = try await client.executeRequest(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
            if let set = response.headers[.setCookie], let pair = set.split(separator: ";").first {
                cookie = pair.hasSuffix("=") ? nil : String(pair)
            }
            return response
        }

        func signIn(_ name: String, _ password: String = HTTPContractTests.password) async throws -> TestResponse {
            try await post("/console/sign-in", ["name": name, "password": password])
        }

        /// The CSRF token of the page's forms.
        func csrf(_ path: String = "/console") async throws -> String {
            let page = String(buffer: try await get(path).body)
            guard let range = page.range(of: #"name="csrf" value=""#) else { return "" }
            return String(page[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    func addUsers(_ h: Harness) async throws {
        _ = try await UserAdmin.add(h.store, name: "ada", role: .operator, password: Self.password, now: h.clock.now())
        _ = try await UserAdmin.add(h.store, name: "vic", role: .viewer, password: Self.password, now: h.clock.now())
    }

    @Test("sign-in: a wrong password is refused and audited; the right one sets an HttpOnly, SameSite=Strict cookie; pages need it")
    func consoleSignIn() async throws {
        try await withApp { client, h in
            try await addUsers(h)
            let browser = Browser(client)
            let anonymous = try await browser.get("/console/orders")
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/console/sign-in")
            let wrong = try await browser.signIn("ada", "not the password")
            #expect(wrong.status == .unauthorized && browser.cookie == nil)
            #expect(String(buffer: wrong.body).contains("do not match"))
            let ok = try await browser.signIn("ada")
            #expect(ok.status == .seeOther)
            let set = try #require(ok.headers[.setCookie])
            #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"))
            #expect(!set.contains("Secure"), "development is plain HTTP on loopback")
            for path in ["/console", "/console/orders", "/console/review", "/console/tasks", "/console/audit"] {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path)")
                #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(page.headers[.cacheControl] == "no-store")
                #expect(!String(buffer: page.body).contains("<script>"), "no inline script in \(path)")
            }
            let audit = try await h.store.audit(limit: 10)
            #expect(audit.contains { $0.action == "console.sign_in" && $0.outcome == "rejected:bad_credentials" && $0.target == "ada" })
            #expect(audit.contains { $0.action == "console.sign_in" && $0.outcome == "ok" && $0.actor == "user:ada" })

            // Signing out needs the token too, and ends the session for good.
            let stale = try #require(browser.cookie)
            #expect(try await browser.post("/console/sign-out", [:]).status == .forbidden)
            #expect(try await browser.post("/console/sign-out", ["csrf": try await browser.csrf()]).status == .seeOther)
            browser.cookie = stale
            #expect(try await browser.get("/console").status == .seeOther, "the old cookie no longer signs in")
        }
    }

    @Test("failed sign-ins are limited per account: after five, even the right password waits")
    func consoleLockout() async throws {
        try await withApp { client, h in
            try await addUsers(h)
            let browser = Browser(client)
            for _ in 0..<5 { #expect(try await browser.signIn("ada", "wrong password!").status == .unauthorized) }
            let limited = try await browser.signIn("ada")
            #expect(limited.status == .tooManyRequests && browser.cookie == nil)
            // Another account is not locked by ada's failures.
            #expect(try await browser.signIn("vic").status == .seeOther)
            h.clock.advance(by: 16 * 60)
            #expect(try await Browser(client).signIn("ada").status == .seeOther, "the window passes")
        }
    }

    @Test("an action without its CSRF token, or from a viewer, is 403 and changes nothing; an operator's approves")
    func consoleCSRFAndRoles() async throws {
        try await withApp { client, h in
            try await addUsers(h)
            _ = try await h.flow.receiveOrder(h.order("C1"), payload: "{}")
            try await h.drain()
            let ada = Browser(client)
            _ = try await ada.signIn("ada")
            let forged = try await ada.post("/console/orders/C1/approve", [:])
            #expect(forged.status == .forbidden && String(buffer: forged.body).contains("security token"))
            let wrongToken = try await ada.post("/console/orders/C1/approve", ["csrf": String(repeating: "0", count: 64)])
            #expect(wrongToken.status == .forbidden)
            #expect(try await h.store.session(orderId: "C1")?.state == .pending)

            let vic = Browser(client)
            _ = try await vic.signIn("vic")
            let page = String(buffer: try await vic.get("/console/orders/C1").body)
            #expect(!page.contains("/approve"), "a viewer sees no action forms")
            let refused = try await vic.post("/console/orders/C1/approve", ["csrf": try await vic.csrf()])
            #expect(refused.status == .forbidden)
            #expect(try await h.store.session(orderId: "C1")?.state == .pending)

            let done = try await ada.post("/console/orders/C1/approve", ["csrf": try await ada.csrf()])
            #expect(done.status == .seeOther && done.headers[.location] == "/console/orders/C1?done=approve")
            #expect(try await h.store.session(orderId: "C1")?.state == .approved)
            let again = try await ada.post("/console/orders/C1/decline", ["csrf": try await ada.csrf()])
            #expect(again.status == .conflict && String(buffer: again.body).contains("only a pending order"))
            #expect(try await h.store.session(orderId: "C1")?.state == .approved)
            let audit = try await h.store.audit(limit: 50)
            #expect(audit.contains { $0.action == "order.approve" && $0.outcome == "rejected:csrf" })
            #expect(audit.contains { $0.action == "order.approve" && $0.outcome == "rejected:role" && $0.actor == "user:vic" })
            #expect(audit.contains { $0.action == "order.approve" && $0.outcome == "ok" && $0.actor == "user:ada" && $0.target == "C1" })
            #expect(audit.contains { $0.action == "order.decline" && $0.outcome == "refused" })

            // A decided order's personal data can be erased from its page, by an operator.
            #expect(String(buffer: try await ada.get("/console/orders/C1").body).contains("/C1/erase"))
            #expect(try await vic.post("/console/orders/C1/erase", ["csrf": try await vic.csrf()]).status == .forbidden)
            let erased = try await ada.post("/console/orders/C1/erase", ["csrf": try await ada.csrf()])
            #expect(erased.status == .seeOther && erased.headers[.location] == "/console/orders/C1?done=erase")
            #expect(try await h.store.session(orderId: "C1")?.customerEmail == "")
            #expect(!String(buffer: try await ada.get("/console/orders/C1").body).contains("/C1/erase"), "erased once")
        }
    }

    @Test("hostile order ids, emails and names are text on every page, never markup; webhook bodies are shown redacted")
    func consoleEscaping() async throws {
        var config = Self.adminConfig
        config.lightspeedWebhookSecrets = []
        try await withApp(config) { client, h in
            try await addUsers(h)
            let id = #"<script>alert(1)</script>"'`=x"#
            let email = #""><img/src=x/onerror=alert(1)>@example.com"#
            let name = "\"\u{301}><svg onload=alert(2)> Smith"
            let body = try JSONCoding.string(["event": "order.created", "orderId": id, "customerEmail": email, "customerName": name,
                                              "orderTotal": "10", "paymentId": "ch_x"])
            #expect(try await post(client, "/api/v1/post-purchase/webhook", body).status == .accepted)
            try await h.drain()
            _ = try await h.store.write { tx in try await tx.addReview(orderId: id, reason: "<b>look</b>", eventId: nil, at: h.clock.now()) }
            let ada = Browser(client)
            _ = try await ada.signIn("ada")
            let encoded = "/console/orders/" + HTML.component(id)
            let session = try #require(try await h.store.session(orderId: id))
            let customer = try #require(h.flow.settings.pageURL(session)).replacingOccurrences(of: h.flow.settings.publicURL, with: "")
            for path in ["/console", "/console/orders", "/console/orders?q=" + HTML.component(email), encoded, "/console/review",
                         "/console/audit", "/console/tasks?state=scheduled", customer] {
                let response = try await ada.get(path)
                #expect(response.status == .ok, "\(path)")
                let page = String(buffer: response.body)
                for raw in ["<script>alert", "<img", "<svg onload", "<b>look", "\"\u{301}>"] {
                    #expect(!page.contains(raw), "\(raw) unescaped in \(path)")
                }
                if path == encoded {
                    #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&#96;&#61;x"))
                    #expect(page.contains("[redacted]"), "the webhook's email and name are redacted")
                    #expect(!page.contains("Smith"), "the customer's name is not in the webhook body shown")
                }
            }
            // The customer page shows the order and the first name, nothing else of the person.
            let page = String(buffer: try await ada.get(customer).body)
            #expect(!page.contains("example.com") && !page.contains("Smith"))
        }
    }

    @Test("the customer page: a forged or unknown token is 404; a real one shows the deadline and, in the sandbox, decides")
    func customerPage() async throws {
        try await withApp { client, h in
            _ = try await h.flow.receiveOrder(h.order("CP1"), payload: "{}")
            try await h.drain()
            let session = try #require(try await h.store.session(orderId: "CP1"))
            let path = try #require(h.flow.settings.pageURL(session)).replacingOccurrences(of: h.flow.settings.publicURL, with: "")
            let browser = Browser(client)
            let page = try await browser.get(path)
            #expect(page.status == .ok)
            let text = String(buffer: page.body)
            #expect(text.contains("Hello Ada") && text.contains("CP1") && text.contains("Approve as the ID provider"))
            #expect(!text.contains("CP1@example.com"))
            let token = String(path.dropFirst(3))
            let forged = String(token.dropLast()) + (token.hasSuffix("0") ? "1" : "0")
            for bad in ["/v/" + forged, "/v/nothing", "/v/" + CustomerLinks.newId() + ".00", "/v/" + String(repeating: "a", count: 5000)] {
                #expect(try await browser.get(bad).status == .notFound, "\(bad.prefix(40))")
            }
            #expect(try await browser.post(path + "/sandbox", ["decision": "approved", "dateOfBirth": "nonsense"]).status == .badRequest)
            #expect(try await browser.post(path + "/sandbox", ["decision": "approved", "dateOfBirth": "2012-01-01"]).status == .seeOther)
            #expect(try await h.store.session(orderId: "CP1")?.outcomeReason == .underage, "the policy judges the sandbox's date of birth too")
            #expect(String(buffer: try await browser.get(path).body).contains("could not confirm your age"))
        }
    }

    @Test("the actions' API: idempotent with a key, 409 when the state forbids, extend by a duration, resolve a review")
    func actionAPI() async throws {
        try await withApp(Self.adminConfig) { client, h in
            _ = try await h.flow.receiveOrder(h.order("AA1"), payload: "{}")
            try await h.drain()
            func call(_ path: String, _ body: String? = nil, key: String? = nil) async throws -> TestResponse {
                var headers: HTTPFields = [.authorization: "Bearer t-new", .contentType: "application/json"]
                if let key { headers[.literal("Idempotency-Key")] = key }
                return try await client.executeRequest(uri: path, method: .post, headers: headers, body: body.map { ByteBuffer(string: $0) })
            }
            let before = try #require(try await h.store.session(orderId: "AA1")).deadline
            let extended = try await call("/api/v1/orders/AA1/extend", #"{"by":"24h"}"#)
            #expect(extended.status == .ok)
            #expect(try await h.store.session(orderId: "AA1")?.deadline == before.addingTimeInterval(86_400))
            #expect(try await call("/api/v1/orders/AA1/extend", #"{"by":"24h","deadline":"2030-01-01T00:00:00Z"}"#).status == .badRequest)
            #expect(try await call("/api/v1/orders/AA1/extend", #"{"deadline":"2000-01-01T00:00:00Z"}"#).status == .conflict)
            let first = try await call("/api/v1/orders/AA1/approve", key: "k-approve")
            let firstBody = try json(first)
            #expect(first.status == .ok && firstBody["status"] as? String == "approved")
            let replay = try await call("/api/v1/orders/AA1/approve", key: "k-approve")
            #expect(replay.status == .ok && replay.headers[.literal("Idempotent-Replayed")] == "true")
            let refused = try await call("/api/v1/orders/AA1/decline")
            try expectProblem(refused, .conflict)
            #expect(try await call("/api/v1/orders/nope/approve").status == .notFound)
            #expect(try await call("/api/v1/orders/AA1/approve", key: nil).status == .conflict)

            _ = try await h.store.write { tx in try await tx.addReview(orderId: "AA1", reason: "check", eventId: nil, at: h.clock.now()) }
            let review = try #require(try await h.store.reviews(limit: 10).first)
            #expect(try await call("/api/v1/reviews/\(review.id)/resolve", #"{"note":""}"#).status == .badRequest)
            let resolved = try await call("/api/v1/reviews/\(review.id)/resolve", #"{"note":"called the customer"}"#)
            let resolvedBody = try json(resolved)
            #expect(resolved.status == .ok && (resolvedBody["resolvedBy"] as? String)?.hasPrefix("token:") == true)
            #expect(try await call("/api/v1/reviews/\(review.id)/resolve", #"{"note":"again"}"#).status == .conflict)
            #expect(try await h.store.reviews(limit: 10).isEmpty)
        }
    }
}

@Suite("Console rendering")
struct ConsoleRenderingTests {
    @Test("every template parses and renders; escaping works on Unicode scalars, so a quote with a combining mark is escaped")
    func templates() {
        for name in ConsoleTemplates.sources.keys {
            let out = ConsoleTemplates.shared.library.render(Message(title: "t", text: "x"), withTemplate: name) ?? "missing"
            #expect(!out.contains("does not parse") && out != "missing", "\(name)")
        }
        #expect(HTML.escape("\"\u{301}") == "&quot;\u{301}")
        #expect(HTML.escape("<a href='x'>&") == "&lt;a href&#61;&#39;x&#39;&gt;&amp;")
        #expect(HTML.escape("a\u{0}b\u{7}c\u{85}") == "a\u{FFFD}b\u{FFFD}c\u{FFFD}")
        let page = ConsoleTemplates.shared.page("message", Message(title: "\"\u{301}<x>", text: "y"), layout: LayoutView(title: "\"\u{301}"))
        #expect(!page.contains("\"\u{301}<x>") && page.contains("&quot;\u{301}&lt;x&gt;"))
    }

    @Test("charts: decided sessions counted on their day in the shop's time zone, medians per day, nothing out of range")
    func charts() throws {
        let utc = try #require(TimeZone(identifier: "UTC"))
        let now = Date(timeIntervalSince1970: 1_790_000_000)  // 2026-09-21 14:13 UTC
        let sessions = [
            DecidedSession(state: .approved, createdAt: now.addingTimeInterval(-7200), decidedAt: now.addingTimeInterval(-3600)),
            DecidedSession(state: .approved, createdAt: now.addingTimeInterval(-5 * 3600), decidedAt: now.addingTimeInterval(-3600)),
            DecidedSession(state: .declined, createdAt: now.addingTimeInterval(-90_000), decidedAt: now.addingTimeInterval(-86_400)),
            DecidedSession(state: .expired, createdAt: now.addingTimeInterval(-40 * 86_400), decidedAt: now.addingTimeInterval(-30 * 86_400)),
        ]
        let days = Charts.days(sessions, days: 14, now: now, timeZone: utc)
        #expect(days.count == 14)
        #expect(days[13].approved == 2 && days[13].medianHours == 2.5)
        #expect(days[12].declined == 1 && days.map(\.total).reduce(0, +) == 3, "a session decided 30 days ago is out of range")
        let svg = Charts.outcomes(days)
        #expect(svg.hasPrefix("<svg") && svg.components(separatedBy: "<rect").count - 1 == 2)
        #expect(Charts.timeToDecision(days).contains("median 2.5 h"))
        #expect(Charts.niceCeiling(7) == 10 && Charts.niceCeiling(12) == 20 && Charts.niceCeiling(0) == 1)
    }

    @Test("redaction: names, emails, dates of birth, documents and secrets go; structure and the rest stay")
    func redaction() {
        let out = Redact.json(#"{"orderId":"A1","customerEmail":"a@b.c","person":{"firstName":"X","dateOfBirth":"1990-01-01"},"items":[{"sku":"w","name":"Wine"}],"total":5}"#)
        #expect(!out.contains("a@b.c") && !out.contains("1990") && !out.contains("\"X\"") && !out.contains("Wine"))
        #expect(out.contains("\"orderId\":\"A1\"") && out.contains("\"sku\":\"w\"") && out.contains("\"total\":5"))
        #expect(Redact.json("not json") == "(not JSON; not shown)")
        #expect(Redact.json(#"{"to":"a@b.c","total":5,"token":"t"}"#) == #"{"to":"[redacted]","token":"[redacted]","total":5}"#)
    }

    @Test("customer links: the token carries its id and a keyed signature; another key, a changed id or a changed signature fail")
    func links() {
        let links = CustomerLinks(secret: Secret(String(repeating: "k", count: 32)))
        let id = CustomerLinks.newId()
        let token = links.token(linkId: id)
        #expect(links.linkId(token: token) == id)
        #expect(CustomerLinks(secret: Secret(String(repeating: "j", count: 32))).linkId(token: token) == nil)
        #expect(links.linkId(token: CustomerLinks.newId() + token.drop { $0 != "." }) == nil)
        #expect(links.linkId(token: id + ".") == nil && links.linkId(token: id) == nil && links.linkId(token: "") == nil)
    }
}
