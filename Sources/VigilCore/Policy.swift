import Foundation

/// A calendar date with no time of day or zone: a date of birth, a document's expiry.
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Nil unless the date exists in the Gregorian calendar.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1, day <= Self.days(in: month, of: year) else {
            return nil
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// `YYYY-MM-DD` exactly (the form Veriff sends), nothing else.
    public init?(iso text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) } }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The date it is at `instant` in `timeZone`.
    public init(_ instant: Date, in timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: instant)
        year = parts.year ?? 1970
        month = parts.month ?? 1
        day = parts.day ?? 1
    }

    public var description: String {
        String(format: "%04d-%02d-%02d", year, month, day)
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func days(in month: Int, of year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Whole years from `born` to this date. Someone born on 29 February turns a year older on
    /// 1 March in common years: the later of the two readings, so no one is taken to be of age a
    /// day early.
    public func years(since born: LocalDate) -> Int {
        var years = year - born.year
        let birthday = born.month == 2 && born.day == 29 && !Self.isLeap(year) ? (3, 1) : (born.month, born.day)
        if (month, day) < birthday { years -= 1 }
        return years
    }
}

/// Where an order ships: an ISO 3166-1 alpha-2 country and, optionally, a subdivision (a US state,
/// a Canadian province) as ISO 3166-2 writes it after the dash (`CA` in `US-CA`).
public struct Region: Sendable, Hashable, Codable, CustomStringConvertible {
    public let country: String
    public let subdivision: String?

    /// Nil unless the country is two letters and the subdivision one to three letters or digits.
    public init?(country: String, subdivision: String? = nil) {
        let c = country.uppercased()
        guard c.utf8.count == 2, c.allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
        let s = subdivision.map { $0.uppercased() }.flatMap { $0.isEmpty ? nil : $0 }
        if let s, !(1...3).contains(s.utf8.count) || !s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            return nil
        }
        self.country = c
        self.subdivision = s
    }

    /// `US` or `US-CA`.
    public init?(code: String) {
        let parts = code.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, parts.count == 1 || !parts[1].isEmpty else { return nil }
        self.init(country: first, subdivision: parts.count > 1 ? parts[1] : nil)
    }

    public var description: String { subdivision.map { "\(country)-\($0)" } ?? country }

    /// Whether an order shipping to `region` falls under this one (a country covers its subdivisions).
    public func covers(_ region: Region) -> Bool {
        country == region.country && (subdivision == nil || subdivision == region.subdivision)
    }
}

/// One line of an order, as far as the verification rules look at it.
public struct LineItem: Sendable, Hashable, Codable {
    public var sku: String?
    public var quantity: Int
    public var tags: [String]
    public var categories: [String]

    public init(sku: String?, quantity: Int = 1, tags: [String] = [], categories: [String] = []) {
        self.sku = sku
        self.quantity = quantity
        self.tags = tags
        self.categories = categories
    }
}

/// Which orders need verification. An order needs it when any rule matches; with no rule at
/// all, every order does (Vigil's behaviour before rules existed, and the safe default).
public struct VerificationRules: Sendable, Equatable {
    public var skus: Set<String> = []
    public var productTags: Set<String> = []
    public var categories: Set<String> = []
    /// Orders of at least this total.
    public var totalAtLeast: Decimal?
    /// Orders shipping here.
    public var regions: [Region] = []
    public var customerTags: Set<String> = []

    public init() {}

    public var isEmpty: Bool {
        skus.isEmpty && productTags.isEmpty && categories.isEmpty && totalAtLeast == nil && regions.isEmpty && customerTags.isEmpty
    }

    /// Why the order needs verification (the first rule that matches, for the timeline), or nil
    /// when it does not.
    public func reason(items: [LineItem], total: Decimal, region: Region?, customerTags tags: [String]) -> String? {
        if isEmpty { return "every order is verified (no rules)" }
        let lowered = { (values: [String]) in Set(values.map { $0.lowercased() }) }
        for item in items {
            if let sku = item.sku, skus.contains(sku) { return "sku \(sku)" }
            if let tag = lowered(item.tags).first(where: { productTags.contains($0) }) { return "product tag \(tag)" }
            if let category = lowered(item.categories).first(where: { categories.contains($0) }) { return "category \(category)" }
        }
        if let totalAtLeast, total >= totalAtLeast { return "total \(total) at least \(totalAtLeast)" }
        if let region, let rule = regions.first(where: { $0.covers(region) }) { return "ships to \(rule)" }
        if let tag = lowered(tags).first(where: { customerTags.contains($0) }) { return "customer tag \(tag)" }
        return nil
    }
}

/// The age policy: a minimum age with overrides by shipping region, regions where age-restricted
/// goods are not sold at all, which orders need verification, and how long a verified customer is
/// remembered. Pure: the flow supplies the order, the decision and the time.
public struct AgePolicy: Sendable, Equatable {
    public struct RegionRule: Sendable, Equatable {
        public var region: Region
        /// Nil keeps the default minimum.
        public var minimumAge: Int?
        /// The shop does not sell age-restricted goods there: such orders are declined.
        public var blocked: Bool

        public init(region: Region, minimumAge: Int? = nil, blocked: Bool = false) {
            self.region = region
            self.minimumAge = minimumAge
            self.blocked = blocked
        }
    }

    /// The rule that applies to one order.
    public struct Applied: Sendable, Equatable, Codable {
        public var minimumAge: Int
        /// `default`, or the region of the rule (`US-CA`).
        public var rule: String
        public var blocked: Bool

        public init(minimumAge: Int, rule: String, blocked: Bool = false) {
            self.minimumAge = minimumAge
            self.rule = rule
            self.blocked = blocked
        }
    }

    public static let defaultMinimumAge = 21
    public static let defaultRememberFor: TimeInterval = 365 * 86_400

    public var minimumAge: Int
    public var regions: [RegionRule]
    /// Whose calendar an age is counted in: the shop's.
    public var timeZone: TimeZone
    public var verification: VerificationRules
    /// How long a customer verified of age is released without a new check; 0 turns it off.
    public var rememberFor: TimeInterval

    public init(minimumAge: Int = AgePolicy.defaultMinimumAge, regions: [RegionRule] = [],
                timeZone: TimeZone = TimeZone(identifier: "UTC") ?? .current,
                verification: VerificationRules = VerificationRules(), rememberFor: TimeInterval = AgePolicy.defaultRememberFor) {
        self.minimumAge = minimumAge
        self.regions = regions
        self.timeZone = timeZone
        self.verification = verification
        self.rememberFor = rememberFor
    }

    /// The most specific rule for `region` (country and subdivision, then country, then the default).
    public func rule(for region: Region?) -> Applied {
        if let region {
            let matches = regions.filter { $0.region.covers(region) }
            if let best = matches.first(where: { $0.region.subdivision != nil }) ?? matches.first {
                return Applied(minimumAge: best.minimumAge ?? minimumAge, rule: best.region.description, blocked: best.blocked)
            }
        }
        return Applied(minimumAge: minimumAge, rule: "default")
    }
}

/// What a decision says that the policy needs, reduced to what may be kept: the age in whole
/// years on the decision's day (in the shop's time zone) and whether the document had expired,
/// never the date of birth itself.
public struct DecisionFacts: Sendable, Equatable, Codable {
    public var ageYears: Int?
    public var documentExpired: Bool

    public init(ageYears: Int?, documentExpired: Bool) {
        self.ageYears = ageYears
        self.documentExpired = documentExpired
    }

    public init(dateOfBirth: LocalDate?, documentValidUntil: LocalDate?, decidedAt: Date, timeZone: TimeZone) {
        let today = LocalDate(decidedAt, in: timeZone)
        ageYears = dateOfBirth.map { today.years(since: $0) }
        documentExpired = documentValidUntil.map { $0 < today } ?? false
    }
}

/// What the policy makes of a verified identity.
public enum AgeVerdict: Sendable, Equatable {
    case ofAge
    case underage
    /// The identity document had expired on the day of the decision.
    case documentExpired
    /// The decision carries no date of birth, and the rule needs one: a person must look.
    case missingDateOfBirth

    /// An expired document declines whatever the age; otherwise the age against the rule's
    /// minimum (a minimum of 0 needs no date of birth).
    public static func judge(_ facts: DecisionFacts, rule: AgePolicy.Applied) -> AgeVerdict {
        if facts.documentExpired { return .documentExpired }
        guard rule.minimumAge > 0 else { return .ofAge }
        guard let age = facts.ageYears else { return .missingDateOfBirth }
        return age >= rule.minimumAge ? .ofAge : .underage
    }
}
