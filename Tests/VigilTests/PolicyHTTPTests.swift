import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilCore
import VigilServer
import VigilSQLite
import VigilStore

/// The age policy over HTTP: Veriff's own body, what is kept of it, and forgetting a customer.
extension HTTPContractTests {
    static var policyConfig: VigilConfig {
        var config = adminConfig
        config.veriffSharedSecrets = [Secret("vs")]
        config.policy = AgePolicy(minimumAge: 21, regions: [.init(region: Region(code: "CA")!, minimumAge: 19)])
        return config
    }

    /// Veriff's decision body with the person and document it names (fields as Veriff documents them).
    static func veriffDecision(order: String, dateOfBirth: String, validUntil: String = "2035-01-01", at: Date) -> String {
        let decided = at.addingTimeInterval(-120).formatted(.iso8601)
        return """
        {"status":"success","verification":{"id":"\(UUID().uuidString.lowercased())","code":9001,"status":"approved",\
        "reason":null,"reasonCode":null,"vendorData":"\(order)","decisionTime":"\(decided)",\
        "acceptanceTime":"\(decided)","person":{"firstName":"SARAH","lastName":"MORGAN",\
        "idNumber":"38508040000","dateOfBirth":"\(dateOfBirth)","gender":"F","nationality":"US"},\
        "document":{"number":"MORGAN852468SM9IJ","type":"DRIVERS_LICENSE","country":"US","validFrom":null,\
        "validUntil":"\(validUntil)"},"additionalVerifiedData":{}},"technicalData":{"ip":"203.0.113.9"}}
        """
    }

    @Test("Veriff's approval of a 19-year-old is declined under a 21 rule; the delivery is kept without name, date of birth or document number")
    func underageOverHTTP() async throws {
        try await withApp(Self.policyConfig) { client, h in
            let order = #"{"event":"order.created","orderId":"PA1","customerEmail":"pa1@example.com","orderTotal":80,"paymentId":"ch_pa1","shippingAddress":{"country":"us","state":"ny"}}"#
            #expect(try await post(client, "/api/v1/post-purchase/webhook", order, headers: [("X-Signature", Self.signed("ls", order))]).status == .accepted)
            let body = Self.veriffDecision(order: "PA1", dateOfBirth: "2007-06-01", at: h.clock.now())
            let r = try await post(client, "/api/v1/veriff/webhook", body, headers: [("X-HMAC-SIGNATURE", Self.signed("vs", body))])
            #expect(r.status == .accepted, "\(String(buffer: r.body))")
            #expect(try json(r)["status"] as? String == "declined")
            let session = try json(try await admin(client, .get, "/api/v1/orders/PA1"))
            #expect(session["reason"] as? String == "underage" && session["ofAge"] as? Bool == false)
            #expect(session["minimumAge"] as? Int == 21 && session["ageRule"] as? String == "default")

            let sqlite = try #require(h.store as? SQLiteStore)
            let kept = try await sqlite.driver.read("SELECT payload FROM webhook_events WHERE provider = 'veriff'")
            let payload = try #require(try kept.first?.text("payload"))
            for secret in ["2007-06-01", "MORGAN", "SARAH", "38508040000", "203.0.113.9"] {
                #expect(!payload.contains(secret), "\(secret) kept in \(payload)")
            }
            #expect(payload.hasPrefix("\"enc:v1:"), "sealed at rest")
            let opened = try #require(try await h.store.webhooks(orderId: "PA1", limit: 5).last?.payload)
            #expect(opened.contains("\"dateOfBirthGiven\":true") && !opened.contains("2007-06-01"))
            let timeline = try await h.store.eventLog(orderId: "PA1").map(\.data).joined()
            #expect(!timeline.contains("2007-06-01") && !timeline.contains("MORGAN"))
        }
    }

    @Test("the same 19-year-old shipping to Canada is of age; an expired document is declined")
    func regionAndDocumentOverHTTP() async throws {
        try await withApp(Self.policyConfig) { client, h in
            for (id, country) in [("PA2", "CA"), ("PA3", "CA")] {
                let order = #"{"event":"order.created","orderId":"\#(id)","customerEmail":"\#(id)@example.com","orderTotal":80,"paymentId":"ch_1","shippingAddress":{"country":"\#(country)","state":"ON"}}"#
                #expect(try await post(client, "/api/v1/post-purchase/webhook", order, headers: [("X-Signature", Self.signed("ls", order))]).status == .accepted)
            }
            let ok = Self.veriffDecision(order: "PA2", dateOfBirth: "2007-06-01", at: h.clock.now())
            let r = try await post(client, "/api/v1/veriff/webhook", ok, headers: [("X-HMAC-SIGNATURE", Self.signed("vs", ok))])
            #expect(try json(r)["status"] as? String == "approved")
            #expect(try await h.store.session(orderId: "PA2")?.ageRule == "CA")
            let expired = Self.veriffDecision(order: "PA3", dateOfBirth: "1980-01-01", validUntil: "2020-01-01", at: h.clock.now())
            let e = try await post(client, "/api/v1/veriff/webhook", expired, headers: [("X-HMAC-SIGNATURE", Self.signed("vs", expired))])
            #expect(try json(e)["status"] as? String == "declined")
            #expect(try await h.store.session(orderId: "PA3")?.outcomeReason == .documentExpired)
        }
    }

    @Test("DELETE /api/v1/verified-customers forgets a customer: audited by key, idempotent, 400 without a customer, 401 without a token")
    func revokeCustomer() async throws {
        try await withApp(Self.policyConfig) { client, h in
            _ = try await h.flow.receiveOrder(h.order("RC1"), payload: "{}")
            _ = try await h.flow.receiveDecision(h.decision("RC1", .approved))
            var second = h.order("RC2")
            second.customerEmail = "RC1@EXAMPLE.com"
            _ = try await h.flow.receiveOrder(second, payload: "{}")
            #expect(try await h.store.session(orderId: "RC2")?.outcomeReason == .returningCustomer)

            try expectProblem(try await admin(client, .delete, "/api/v1/verified-customers?email=rc1@example.com", token: nil),
                              .unauthorized)
            try expectProblem(try await admin(client, .delete, "/api/v1/verified-customers"), .badRequest)
            try expectProblem(try await admin(client, .delete, "/api/v1/verified-customers?email="), .badRequest)
            let long = String(repeating: "a", count: 400)
            try expectProblem(try await admin(client, .delete, "/api/v1/verified-customers?email=\(long)"), .badRequest)

            let revoked = try await admin(client, .delete, "/api/v1/verified-customers?email=rc1%40example.com")
            #expect(revoked.status == .ok)
            #expect(try json(revoked)["revoked"] as? Int == 1)
            let again = try await admin(client, .delete, "/api/v1/verified-customers?email=rc1%40example.com")
            #expect(try json(again)["revoked"] as? Int == 0, "forgetting twice is harmless")
            let audit = try await h.store.audit(limit: 10).filter { $0.action == "customer.revoke" }
            #expect(audit.map(\.outcome).sorted() == ["not_remembered", "rejected:no_token", "revoked"], "\(audit)")
            #expect(audit.allSatisfy { !($0.target ?? "").contains("example.com") })

            var third = h.order("RC3")
            third.customerEmail = "rc1@example.com"
            _ = try await h.flow.receiveOrder(third, payload: "{}")
            #expect(try await h.store.session(orderId: "RC3")?.state == .pending)
        }
    }
}
