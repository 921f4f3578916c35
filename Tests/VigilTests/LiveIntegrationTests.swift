import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import VigilCore
import VigilProviders
import VigilServer
import VigilPostgres
import VigilSQLite
import VigilStore

extension HTTPContractTests {
    static let nativeOrder = #"{"order":{"id":987654,"number":"ORD01001","email":"ada@example.com","firstname":"Ada","lastname":"Lovelace","priceIncl":49.95,"paymentStatus":"paid"}}"#

    static func md5Signed(_ secret: String, _ body: String) -> String {
        Hex.encode(Insecure.MD5.hash(data: Data((body + secret).utf8)))
    }

    @Test("Lightspeed's native order webhook: MD5 signature (body + secret) opens a session; a bad one is 401")
    func nativeLightspeedWebhook() async throws {
        var config = VigilConfig()
        config.lightspeedWebhookSecrets = [Secret("ls-secret")]
        try await withApp(config) { client, h in
            let path = "/api/v1/post-purchase/webhook"
            let body = Self.nativeOrder
            try expectProblem(try await post(client, path, body, headers: [("X-Signature", Self.md5Signed("wrong", body))]), .unauthorized)
            let ok = try await post(client, path, body, headers: [("X-Signature", Self.md5Signed("ls-secret", body))])
            #expect(ok.status == .accepted)
            let session = try #require(try await h.store.session(orderId: "987654"))
            #expect(session.customerEmail == "ada@example.com" && session.customerName == "Ada Lovelace")
            #expect(session.orderTotal == Decimal(string: "49.95") && session.paymentId == nil)
            let again = try await post(client, path, body, headers: [("X-Signature", Self.md5Signed("ls-secret", body))])
            #expect(again.status == .ok, "the same order in either form is one delivery")
            // The MD5 form is accepted only for the native body shape, never for the contract's JSON.
            try expectProblem(try await post(client, path, Self.orderBody, headers: [("X-Signature", Self.md5Signed("ls-secret", Self.orderBody))]),
                              .unauthorized)
            let noEmail = #"{"order":{"id":5,"priceIncl":1}}"#
            try expectProblem(try await post(client, path, noEmail, headers: [("X-Signature", Self.md5Signed("ls-secret", noEmail))]), .badRequest)
        }
    }
}

@Suite("Live mode: configuration, decision codes and selftest")
struct LiveModeTests {
    static let complete: [String: String] = [
        "VIGIL_PROVIDERS": "live",
        "VIGIL_VERIFF_API_KEY": "vk", "VIGIL_VERIFF_SHARED_SECRET": "vs",
        "VIGIL_SENDGRID_API_KEY": "SG.k", "VIGIL_EMAIL_FROM": "shop@example.com",
        "VIGIL_SENDGRID_TEMPLATE_VERIFICATION_LINK": "d-1", "VIGIL_SENDGRID_TEMPLATE_REMINDER": "d-2",
        "VIGIL_SENDGRID_TEMPLATE_APPROVED": "d-3", "VIGIL_SENDGRID_TEMPLATE_DECLINED": "d-4",
        "VIGIL_SENDGRID_TEMPLATE_EXPIRED": "d-5",
        "VIGIL_PAYMENTS_API_KEY": "sk_live_x",
        "VIGIL_LIGHTSPEED_API_TOKEN": "key:secret", "VIGIL_LIGHTSPEED_BASE_URL": "https://api.webshopapp.com/en",
    ]

    func error(_ env: [String: String]) -> ConfigError? {
        do {
            _ = try VigilConfig.load(environment: env)
            return nil
        } catch {
            return error
        }
    }

    @Test("live mode refuses each missing credential with a one-line error naming the variable")
    func missingCredentials() throws {
        let config = try VigilConfig.load(environment: Self.complete)
        let live = try #require(config.live)
        #expect(live.paymentsBaseURL == "https://api.stripe.com" && live.veriffBaseURL == "https://stationapi.veriff.com")
        for variable in Self.complete.keys where variable != "VIGIL_PROVIDERS" {
            var env = Self.complete
            env[variable] = nil
            #expect(error(env)?.variable == variable, "missing \(variable)")
        }
        var env = Self.complete
        env["VIGIL_PAYMENTS_GATEWAY"] = "authorizenet"
        #expect(error(env)?.variable == "VIGIL_PAYMENTS_LOGIN_ID")
        env["VIGIL_PAYMENTS_LOGIN_ID"] = "login"
        #expect(try VigilConfig.load(environment: env).live?.paymentsBaseURL == "https://api.authorize.net")
        env = Self.complete
        env["VIGIL_LIGHTSPEED_API_TOKEN"] = "just-a-token"
        #expect(error(env)?.variable == "VIGIL_LIGHTSPEED_API_TOKEN")
        env = Self.complete
        env["VIGIL_EMAIL_FROM"] = "shop"
        #expect(error(env)?.variable == "VIGIL_EMAIL_FROM")
        env = Self.complete
        env["VIGIL_PROVIDER_TIMEOUT"] = "0s"
        #expect(error(env)?.variable == "VIGIL_PROVIDER_TIMEOUT")
        #expect(try VigilConfig.load(environment: [:]).live == nil, "sandbox needs no credentials")
        // The error names the variable, never the values around it.
        env = Self.complete
        env["VIGIL_SENDGRID_API_KEY"] = nil
        #expect(error(env).map { !$0.description.contains("sk_live_x") } == true)
    }

    @Test("Veriff decision codes map when the status is absent, as Veriff's status table gives them: 9001, 9102, 9103, 9104, 9121")
    func decisionCodes() throws {
        let cases: [(Int, VerificationDecision)] = [(9001, .approved), (9102, .declined), (9103, .resubmissionRequested),
                                                    (9104, .expired), (9121, .review)]
        for (code, expected) in cases {
            let body = #"{"status":"success","verification":{"id":"s1","code":\#(code),"vendorData":"O1"}}"#
            #expect(try WebhookParser.decision(from: Data(body.utf8)).decision == expected)
        }
        let unknown = #"{"status":"success","verification":{"id":"s1","code":1234,"vendorData":"O1"}}"#
        #expect(throws: PayloadError.self) { try WebhookParser.decision(from: Data(unknown.utf8)) }
    }

    @Test("selftest in live mode: each provider checked read-only; a refused credential fails it (503) with the reason")
    func selftest() async throws {
        let fake = FakeProvider { request in
            switch request.path {
            case "/v3/scopes": .json(200, #"{"scopes":["mail.send"]}"#)
            case "/v1/balance": .json(200, #"{"object":"balance"}"#)
            case "/shop.json": .json(401, #"{"error":"unauthorized"}"#)
            default: .json(404, "{}")
            }
        }
        try await withSQLiteStore { store in
            _ = try await store.migrate()
            try await fake.run { base in
                var env = Self.complete
                for name in ["VIGIL_VERIFF_BASE_URL", "VIGIL_SENDGRID_BASE_URL", "VIGIL_PAYMENTS_BASE_URL", "VIGIL_LIGHTSPEED_BASE_URL"] {
                    env[name] = base
                }
                let config = try VigilConfig.load(environment: env)
                let report = try await VigilRuntime.withProviders(config, store: store, clock: SystemClock(), logger: quietLogger) { providers in
                    await SelfTest.run(config: config, store: store, providers: providers, clock: SystemClock(), localScheduler: nil)
                }
                #expect(report.results["veriff"] == "ok" && report.results["sendgrid"] == "ok" && report.results["payments"] == "ok")
                #expect(report.results["lightspeed"] == "fail")
                #expect(report.details["lightspeed"] == "credentials refused (HTTP 401)")
                #expect(report.criticalFailure && !report.safeMode)
                #expect(fake.requests.allSatisfy { $0.method == "GET" }, "checks change nothing")
            }
        }
    }
}
