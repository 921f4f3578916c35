import Foundation
import Testing
import VigilCore
import VigilServer

@Suite("Age policy: dates, ages, rules and the policy file")
struct PolicyTests {
    static let utc = TimeZone(identifier: "UTC") ?? .current

    func date(_ text: String) throws -> LocalDate { try #require(LocalDate(iso: text)) }

    @Test("a date of birth is read as YYYY-MM-DD exactly, and only if the day exists")
    func localDates() throws {
        #expect(LocalDate(iso: "2004-02-29")?.description == "2004-02-29")
        for bad in ["2003-02-29", "2004-13-01", "2004-00-10", "2004-04-31", "04-01-01", "2004-1-01", "2004-01-01T00:00",
                    "２００４-01-01", "+004-01-01", "", "0000-01-01", "2004/01/01"] {
            #expect(LocalDate(iso: bad) == nil, "\(bad)")
        }
    }

    @Test("age turns on the birthday; a 29 February birthday turns on 1 March in common years")
    func ages() throws {
        let born = try date("2005-06-15")
        #expect(try date("2026-06-14").years(since: born) == 20)
        #expect(try date("2026-06-15").years(since: born) == 21)
        let leap = try date("2004-02-29")
        #expect(try date("2025-02-28").years(since: leap) == 20, "not of age a day early")
        #expect(try date("2025-03-01").years(since: leap) == 21)
        #expect(try date("2024-02-28").years(since: leap) == 19)
        #expect(try date("2024-02-29").years(since: leap) == 20, "in a leap year, on the day itself")
    }

    @Test("the day is the shop's: the same instant is a birthday in Auckland and not yet in New York")
    func timeZones() throws {
        let instant = try #require(ISO8601DateFormatter().date(from: "2026-06-14T20:00:00Z"))
        let born = try date("2005-06-15")
        let ny = try #require(TimeZone(identifier: "America/New_York"))
        let akl = try #require(TimeZone(identifier: "Pacific/Auckland"))
        #expect(DecisionFacts(dateOfBirth: born, documentValidUntil: nil, decidedAt: instant, timeZone: ny).ageYears == 20)
        #expect(DecisionFacts(dateOfBirth: born, documentValidUntil: nil, decidedAt: instant, timeZone: akl).ageYears == 21)
    }

    @Test("verdicts: an expired document declines whatever the age; no date of birth needs a person; minimum 0 needs none")
    func verdicts() throws {
        let rule = AgePolicy.Applied(minimumAge: 21, rule: "default")
        #expect(AgeVerdict.judge(DecisionFacts(ageYears: 21, documentExpired: false), rule: rule) == .ofAge)
        #expect(AgeVerdict.judge(DecisionFacts(ageYears: 20, documentExpired: false), rule: rule) == .underage)
        #expect(AgeVerdict.judge(DecisionFacts(ageYears: 40, documentExpired: true), rule: rule) == .documentExpired)
        #expect(AgeVerdict.judge(DecisionFacts(ageYears: nil, documentExpired: false), rule: rule) == .missingDateOfBirth)
        #expect(AgeVerdict.judge(DecisionFacts(ageYears: nil, documentExpired: false),
                                 rule: AgePolicy.Applied(minimumAge: 0, rule: "default")) == .ofAge)
        let today = try #require(ISO8601DateFormatter().date(from: "2026-03-10T12:00:00Z"))
        #expect(DecisionFacts(dateOfBirth: nil, documentValidUntil: try date("2026-03-10"), decidedAt: today, timeZone: Self.utc)
            .documentExpired == false, "valid through its last day")
        #expect(DecisionFacts(dateOfBirth: nil, documentValidUntil: try date("2026-03-09"), decidedAt: today, timeZone: Self.utc)
            .documentExpired)
    }

    @Test("the most specific region rule applies: state over country over the default")
    func regionRules() throws {
        let policy = AgePolicy(minimumAge: 21, regions: [
            .init(region: try #require(Region(code: "CA")), minimumAge: 19),
            .init(region: try #require(Region(code: "CA-QC")), minimumAge: 18),
            .init(region: try #require(Region(code: "US-UT")), blocked: true),
        ])
        #expect(policy.rule(for: Region(code: "CA-QC")) == .init(minimumAge: 18, rule: "CA-QC"))
        #expect(policy.rule(for: Region(code: "CA-ON")) == .init(minimumAge: 19, rule: "CA"))
        #expect(policy.rule(for: Region(code: "ca")) == .init(minimumAge: 19, rule: "CA"))
        #expect(policy.rule(for: Region(code: "US-UT")) == .init(minimumAge: 21, rule: "US-UT", blocked: true))
        #expect(policy.rule(for: Region(code: "US-NV")) == .init(minimumAge: 21, rule: "default"))
        #expect(policy.rule(for: nil) == .init(minimumAge: 21, rule: "default"))
        for bad in ["USA", "U", "US-", "US-CALI", "1A", "US-C A", "ÜS"] {
            #expect(Region(code: bad) == nil, "\(bad)")
        }
    }

    @Test("which orders need a check: any matching rule; no rules means every order")
    func verificationRules() throws {
        #expect(VerificationRules().reason(items: [], total: 0, region: nil, customerTags: []) != nil)
        var rules = VerificationRules()
        rules.skus = ["WHISKY-12"]
        rules.productTags = ["age-restricted"]
        rules.categories = ["spirits"]
        rules.totalAtLeast = 500
        rules.regions = [try #require(Region(code: "US-MA"))]
        rules.customerTags = ["wholesale"]
        let tea = LineItem(sku: "TEA-1", tags: ["Organic"], categories: ["Tea"])
        let us = Region(code: "US-NY")
        #expect(rules.reason(items: [tea], total: 20, region: us, customerTags: ["retail"]) == nil)
        #expect(rules.reason(items: [tea, LineItem(sku: "WHISKY-12")], total: 20, region: us, customerTags: []) == "sku WHISKY-12")
        #expect(rules.reason(items: [LineItem(sku: "whisky-12")], total: 20, region: us, customerTags: []) == nil, "SKUs match exactly")
        #expect(rules.reason(items: [LineItem(sku: nil, tags: ["Age-Restricted"])], total: 20, region: us, customerTags: []) != nil)
        #expect(rules.reason(items: [LineItem(sku: nil, categories: ["SPIRITS"])], total: 20, region: us, customerTags: []) != nil)
        #expect(rules.reason(items: [tea], total: 500, region: us, customerTags: []) != nil)
        #expect(rules.reason(items: [tea], total: Decimal(string: "499.99") ?? 0, region: us, customerTags: []) == nil)
        #expect(rules.reason(items: [tea], total: 20, region: Region(code: "US-MA"), customerTags: []) == "ships to US-MA")
        #expect(rules.reason(items: [tea], total: 20, region: Region(code: "US"), customerTags: []) == nil,
                "a country-level address is not inside a state rule")
        #expect(rules.reason(items: [tea], total: 20, region: us, customerTags: ["Wholesale"]) == "customer tag wholesale")
    }

    @Test("the example policy in docs parses, and every rule in it takes effect")
    func examplePolicy() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/policy.example.yaml")
        let policy = try PolicyFile.load(path: url.path)
        #expect(policy.minimumAge == 21 && policy.timeZone.identifier == "America/New_York")
        #expect(policy.rememberFor == 365 * 86_400)
        #expect(policy.rule(for: Region(code: "CA-QC")).minimumAge == 18)
        #expect(policy.rule(for: Region(code: "US-UT")).blocked)
        #expect(policy.verification.skus == ["WHISKY-12", "VAPE-KIT-01"] && policy.verification.totalAtLeast == 500)
    }

    @Test("a bad policy file is one line naming the entry", arguments: [
        ("minimumAge: 21\nminimumAge: 18", ""),
        ("minimumAge: twenty", "minimumAge"),
        ("minimumAge: -1", "minimumAge"),
        ("minimumAge: 126", "minimumAge"),
        ("minimumAge: 21.5", "minimumAge"),
        ("minimumAgee: 21", "minimumAgee"),
        ("timeZone: Mars/Olympus", "timeZone"),
        ("rememberCustomers: forever", "rememberCustomers"),
        ("regions: US", "regions"),
        ("regions:\n  - region: USA\n    minimumAge: 18", "regions[0].region"),
        ("regions:\n  - region: US", "regions[0]"),
        ("regions:\n  - region: US\n    minimumAge: 18\n  - region: us\n    minimumAge: 19", "regions[1].region"),
        ("regions:\n  - region: US\n    blocked: maybe", "regions[0].blocked"),
        ("regions:\n  - region: US\n    minAge: 18", "regions[0].minAge"),
        ("verification:\n  sku: [A]", "verification.sku"),
        ("verification:\n  totalAtLeast: lots", "verification.totalAtLeast"),
        ("verification:\n  totalAtLeast: -5", "verification.totalAtLeast"),
        ("verification:\n  regions: [Narnia]", "verification.regions[0]"),
        ("- 1\n- 2", ""),
        ("{ unclosed", ""),
    ])
    func badPolicies(_ text: String, _ entry: String) throws {
        do {
            let policy = try PolicyFile.parse(text)
            Issue.record("accepted: \(text) → \(policy)")
        } catch {
            #expect(error.entry == entry, "\(text)")
            #expect(!error.description.contains("\n"), "one line: \(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test("an empty policy file is the defaults")
    func emptyPolicy() throws {
        let policy = try PolicyFile.parse("# nothing yet\n")
        #expect(policy == AgePolicy())
    }
}
