import Foundation
import PropertyBased
import Testing
import VigilCore
@testable import VigilFlow
import VigilProviders
import VigilStore
@testable import VigilServer

/// Inputs an attacker or a broken sender chooses: nothing traps, nothing is read loosely, and
/// no two distinct inputs share a key.
@Suite("Hostile input: parsing, bounds and keys")
struct HostileInputTests {
    static let order = #"{"event":"order.created","orderId":"A-1","customerEmail":"a@b.co","orderTotal":50.5,"currency":"usd","customerName":"Ada","paymentId":"pi_1","timestamp":"2026-12-01T00:00:00Z"}"#
    static let veriff = #"{"status":"success","verification":{"id":"f04bdb47","attemptId":"a1","status":"approved","code":9001,"vendorData":"A-1","reason":null,"decisionTime":"2026-12-01T00:00:00Z"}}"#
    static let lightspeed = #"{"order":{"id":123,"email":"a@b.co","firstname":"Ada","lastname":false,"priceIncl":19.99,"customer":{"resource":{"id":77}}}}"#

    @Test("money is exact and bounded: decimal text or a JSON number, never a prefix, an exponent in text, a boolean, a negative or a huge amount")
    func money() throws {
        func total(_ json: String) throws(PayloadError) -> Decimal {
            try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":"x","customerEmail":"a@b.co","orderTotal":\#(json)}"#.utf8)).orderTotal
        }
        #expect(try total("19.99") == Decimal(string: "19.99"))
        #expect(try total(#""19.99""#) == Decimal(string: "19.99"))
        #expect(try total("0") == 0)
        #expect(try total("1000000000") == Money.maximum)
        for bad in [#""12abc""#, #""1e5""#, #"" 12""#, #""-1""#, #""1.2.3""#, #""""#, #"".5""#, "-0.01", "1e38", "1000000000.01",
                    "19.99999", "true", "null", #"{"amount":1}"#, "[1]"] {
            let error = #expect(throws: PayloadError.self, "orderTotal \(bad)") { try total(bad) }
            #expect(error?.message.contains("orderTotal") == true, "the message names the field: \(error?.message ?? "")")
        }
    }

    @Test("property: any plain decimal within the bounds parses to exactly its value; anything with other characters does not")
    func moneyProperty() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...999_999_999), Gen.int(in: 0...9999), Gen.int(in: 1...4)) { whole, fraction, digits in
            let text = "\(whole).\(String(String(fraction).prefix(digits)))"
            #expect(Money.parse(text) == Decimal(string: text))
            #expect(Money.parse(text).map(Money.isValid) == true)
        }
        await propertyCheck(count: 300, input: Gen.letterOrNumber.string(of: 1...8), Gen.element(of: ["e", "+", "-", " ", "_", ",", "x"])) { text, junk in
            #expect(Money.parse("1" + (junk ?? "x") + text) == nil)
        }
    }

    @Test("lengths count bytes: a 200-byte id passes, one byte more or 200 characters of four bytes each do not; NUL and control characters are refused")
    func byteLengths() throws {
        func orderId(_ id: String) throws(PayloadError) -> String {
            let quoted = String(decoding: try! JSONEncoder().encode(id), as: UTF8.self)
            return try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":\#(quoted),"customerEmail":"a@b.co","orderTotal":1}"#.utf8)).orderId
        }
        #expect(try orderId(String(repeating: "é", count: 100)).utf8.count == 200)
        #expect(throws: PayloadError.self) { try orderId(String(repeating: "é", count: 100) + "x") }
        #expect(throws: PayloadError.self) { try orderId(String(repeating: "😀", count: 200)) }
        #expect(throws: PayloadError.self) { try orderId("a\u{0}b") }
        #expect(throws: PayloadError.self) { try orderId("a\nb") }
        let longName = String(repeating: "n", count: 1001)
        #expect(throws: PayloadError.self) {
            try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":"x","customerEmail":"a@b.co","orderTotal":1,"customerName":"\#(longName)"}"#.utf8))
        }
        let vendor = String(repeating: "v", count: 201)
        #expect(throws: PayloadError.self) {
            try WebhookParser.decision(from: Data(#"{"verification":{"id":"s","status":"approved","vendorData":"\#(vendor)"}}"#.utf8))
        }
    }

    @Test("a timestamp of 0 or 1 is a time in 1970 (refused as a replay), never read as a boolean; true is no time at all")
    func timestamps() throws {
        func sentAt(_ timestamp: String) throws(PayloadError) -> Date? {
            try WebhookParser.order(from: Data(#"{"event":"order.created","orderId":"x","customerEmail":"a@b.co","orderTotal":1,"timestamp":\#(timestamp)}"#.utf8)).sentAt
        }
        #expect(try sentAt("0") == Date(timeIntervalSince1970: 0))
        #expect(try sentAt("1") == Date(timeIntervalSince1970: 1))
        #expect(throws: PayloadError.self, "a boolean is no time: the body is refused") { try sentAt("true") }
        #expect(throws: PayloadError.self, "a far-away time is not a time: the body is refused") { try sentAt("1e300") }
        #expect(WebhookFreshness.problem(sentAt: Date(timeIntervalSince1970: 1), now: Date(), maxAge: 7 * 86400) != nil)
    }

    @Test("far-away durations and times are refused at parse time, never trapping")
    func farAwayTimes() throws {
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse("100000000000000h") }
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse(String(repeating: "9", count: 400) + "s") }
        #expect(try DurationText.parse("36500d") == DurationText.maximum)
        #expect(EventExport.time("100000000000000h", now: Date()) == nil)
        #expect(EventExport.time("36500d", now: Date()) != nil)
        #expect(OrderCursor.decode(Data("999999999999999999|x".utf8).base64EncodedString()) == nil)
        #expect(throws: ConfigError.self) { try VigilConfig.load(environment: ["VIGIL_VERIFICATION_DEADLINE": "100000000000000h"]) }
    }

    @Test("property: any text is a duration within bounds or a parse error, never a trap")
    func durationProperty() async {
        let characters = Gen.element(of: Array("0123456789.smhd 9")).map { $0 ?? "9" }
        await propertyCheck(count: 500, input: characters.string(of: 0...24)) { text in
            if let seconds = try? DurationText.parse(text) {
                #expect(seconds >= 0 && seconds <= DurationText.maximum)
            }
        }
    }

    @Test("property: composite keys and task names never collide for different parts")
    func keysAreInjective() async {
        let part = Gen.element(of: Array("ab:/%\"\\,[]")).map { $0 ?? "a" }.string(of: 0...5)
        await propertyCheck(count: 500, input: part, part, part, part) { a, b, c, d in
            if (a, b) != (c, d) {
                #expect(CompositeKey.of(a, b) != CompositeKey.of(c, d))
            }
            if a != c, !a.isEmpty, !c.isEmpty {
                #expect(TaskNames.of(.sendEmail, order: a, suffix: b) != TaskNames.of(.sendEmail, order: c, suffix: d))
            }
            if b != d {
                #expect(TaskNames.of(.sendEmail, order: a, suffix: b) != TaskNames.of(.sendEmail, order: a, suffix: d))
            }
        }
        // The issue's examples.
        let real = OrderEvent(event: "order.created", orderId: "x:B1", customerEmail: "a@b.co", orderTotal: 1)
        let forged = OrderEvent(event: "order.created:x", orderId: "B1", customerEmail: "a@b.co", orderTotal: 1)
        #expect(real.eventId != forged.eventId)
        #expect(TaskNames.of(.sendEmail, order: "C1:send_email") != TaskNames.of(.sendEmail, order: "C1", suffix: "send_email"))
    }

    @Test("property: random mutations of valid signed bodies parse or are refused with a message; nothing traps")
    func mutatedBodies() async {
        let bodies = [Self.order, Self.veriff, Self.lightspeed].map { Array($0.utf8) }
        let edit = Gen.int(in: 0...3)
        await propertyCheck(count: 2000, input: Gen.int(in: 0...2), edit, Gen.int(in: 0...400), Gen.uint8(in: 0...255)) { which, kind, at, byte in
            var bytes = bodies[which]
            let i = at % max(bytes.count, 1)
            switch kind {
            case 0: bytes[i] = byte
            case 1: bytes.insert(byte, at: i)
            case 2: bytes.removeSubrange(i...)
            default: bytes.remove(at: i)
            }
            let data = Data(bytes)
            _ = try? WebhookParser.order(from: data)
            _ = try? WebhookParser.lightspeedOrder(from: data)
            _ = try? WebhookParser.decision(from: data)
            _ = try? WebhookParser.orderWebhook(from: data, eventHeader: "orders/updated")
            do throws(PayloadError) {
                _ = try WebhookParser.order(from: data)
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test("the three valid forms parse as before")
    func validForms() throws {
        let o = try WebhookParser.order(from: Data(Self.order.utf8))
        #expect(o.orderId == "A-1" && o.orderTotal == Decimal(string: "50.5") && o.currency == "USD" && o.customerName == "Ada")
        let l = try WebhookParser.lightspeedOrder(from: Data(Self.lightspeed.utf8))
        #expect(l.orderId == "123" && l.customerName == "Ada" && l.customerId == "77" && l.orderTotal == Decimal(string: "19.99"))
        #expect(try WebhookParser.orderWebhook(from: Data(Self.lightspeed.utf8)).source == .lightspeed)
        #expect(try WebhookParser.orderWebhook(from: Data(Self.order.utf8)).source == .contract)
        let d = try WebhookParser.decision(from: Data(Self.veriff.utf8))
        #expect(d.decision == .approved && d.orderId == "A-1" && d.verificationId == "f04bdb47" && d.reason == nil)
    }
}
