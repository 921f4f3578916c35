import Foundation
import VigilCore
import Yams

/// The age policy as a YAML file (`VIGIL_POLICY_FILE`, checked by `vigil policy check FILE`).
/// Every mistake is one line naming the entry (`regions[2].minimumAge: ...`); unknown keys are
/// mistakes too, so a misspelt rule is never silently ignored.
///
/// ```yaml
/// minimumAge: 21                  # the default minimum (0 to 125)
/// timeZone: America/New_York      # ages are counted on the shop's calendar (IANA name; UTC)
/// rememberCustomers: 365d         # a customer verified of age is released without a new check (0 turns it off)
/// regions:                        # the most specific region wins: US-CA over US over the default
///   - region: US-UT
///     blocked: true               # not sold there: such orders are declined before any check
///   - region: CA
///     minimumAge: 19
/// verification:                   # which orders need a check; with none of these, every order does
///   skus: [WHISKY-12]
///   productTags: [age-restricted]
///   categories: [spirits]
///   totalAtLeast: 100
///   regions: [US]
///   customerTags: [wholesale]
/// ```
public enum PolicyFile {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let entry: String
        public let message: String
        public var description: String { entry.isEmpty ? message : "\(entry): \(message)" }
    }

    static let topKeys: Set<String> = ["minimumAge", "timeZone", "rememberCustomers", "regions", "verification"]
    static let regionKeys: Set<String> = ["region", "minimumAge", "blocked"]
    static let verificationKeys: Set<String> = ["skus", "productTags", "categories", "totalAtLeast", "regions", "customerTags"]

    public static func load(path: String) throws(Problem) -> AgePolicy {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Problem(entry: "", message: "cannot read \(path)")
        }
        return try parse(text)
    }

    public static func parse(_ text: String) throws(Problem) -> AgePolicy {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Problem(entry: "", message: "not YAML: \(describe(error))")
        } catch {
            throw Problem(entry: "", message: "not YAML")
        }
        // A file of comments only is the defaults.
        guard let node else { return AgePolicy() }
        guard let top = node.mapping else { throw Problem(entry: "", message: "the policy must be a mapping of keys such as minimumAge and regions") }
        try known(top, topKeys, at: "")
        var policy = AgePolicy()
        if let value = top["minimumAge"] { policy.minimumAge = try age(value, at: "minimumAge") }
        if let value = top["timeZone"] {
            let name = try string(value, at: "timeZone")
            guard let zone = TimeZone(identifier: name) else {
                throw Problem(entry: "timeZone", message: "'\(name)' is not a time zone; use an IANA name such as America/New_York or UTC")
            }
            policy.timeZone = zone
        }
        if let value = top["rememberCustomers"] {
            let text = try string(value, at: "rememberCustomers")
            do {
                policy.rememberFor = text == "0" ? 0 : try DurationText.parse(text)
            } catch {
                throw Problem(entry: "rememberCustomers", message: error.description)
            }
        }
        if let value = top["regions"] {
            guard let list = value.sequence else { throw Problem(entry: "regions", message: "must be a list of region rules") }
            var seen: Set<Region> = []
            for (index, item) in list.enumerated() {
                let at = "regions[\(index)]"
                guard let entry = item.mapping else { throw Problem(entry: at, message: "must be a mapping with region, and minimumAge or blocked") }
                try known(entry, regionKeys, at: at)
                guard let regionNode = entry["region"] else { throw Problem(entry: at, message: "needs region, e.g. US or US-CA") }
                let region = try self.region(regionNode, at: "\(at).region")
                guard seen.insert(region).inserted else { throw Problem(entry: "\(at).region", message: "\(region) has a rule already") }
                let minimum = try entry["minimumAge"].map { node throws(Problem) in try age(node, at: "\(at).minimumAge") }
                let blocked = try entry["blocked"].map { node throws(Problem) in try bool(node, at: "\(at).blocked") } ?? false
                guard minimum != nil || blocked else { throw Problem(entry: at, message: "needs minimumAge or blocked: true") }
                policy.regions.append(AgePolicy.RegionRule(region: region, minimumAge: minimum, blocked: blocked))
            }
        }
        if let value = top["verification"] {
            guard let entry = value.mapping else { throw Problem(entry: "verification", message: "must be a mapping of rules") }
            try known(entry, verificationKeys, at: "verification")
            var rules = VerificationRules()
            rules.skus = try strings(entry["skus"], at: "verification.skus", lowercased: false)
            rules.productTags = try strings(entry["productTags"], at: "verification.productTags", lowercased: true)
            rules.categories = try strings(entry["categories"], at: "verification.categories", lowercased: true)
            rules.customerTags = try strings(entry["customerTags"], at: "verification.customerTags", lowercased: true)
            if let node = entry["totalAtLeast"] {
                guard let text = node.scalar?.string, let amount = Money.parse(text), Money.isValid(amount) else {
                    throw Problem(entry: "verification.totalAtLeast", message: "must be an amount such as 100 or 49.99")
                }
                rules.totalAtLeast = amount
            }
            if let node = entry["regions"] {
                guard let list = node.sequence else { throw Problem(entry: "verification.regions", message: "must be a list such as [US, CA-ON]") }
                rules.regions = try list.enumerated().map { index, item throws(Problem) in
                    try region(item, at: "verification.regions[\(index)]")
                }
            }
            policy.verification = rules
        }
        return policy
    }

    /// One line for `vigil policy check` and the console.
    public static func summary(_ policy: AgePolicy) -> String {
        let rules = policy.verification
        var parts = ["minimum age \(policy.minimumAge)", "time zone \(policy.timeZone.identifier)"]
        if !policy.regions.isEmpty {
            parts.append("regions: " + policy.regions.map { rule in
                rule.blocked ? "\(rule.region) blocked" : "\(rule.region) \(rule.minimumAge ?? policy.minimumAge)"
            }.joined(separator: ", "))
        }
        if rules.isEmpty {
            parts.append("every order is checked")
        } else {
            var which: [String] = []
            if !rules.skus.isEmpty { which.append("\(rules.skus.count) SKU(s)") }
            if !rules.productTags.isEmpty { which.append("product tags \(rules.productTags.sorted().joined(separator: "/"))") }
            if !rules.categories.isEmpty { which.append("categories \(rules.categories.sorted().joined(separator: "/"))") }
            if let total = rules.totalAtLeast { which.append("totals from \(total)") }
            if !rules.regions.isEmpty { which.append("shipping to \(rules.regions.map(\.description).joined(separator: "/"))") }
            if !rules.customerTags.isEmpty { which.append("customer tags \(rules.customerTags.sorted().joined(separator: "/"))") }
            parts.append("checked: " + which.joined(separator: ", "))
        }
        parts.append(policy.rememberFor > 0 ? "customers remembered \(DurationText.format(policy.rememberFor))" : "customers not remembered")
        return parts.joined(separator: "; ")
    }

    // MARK: Values

    static func known(_ mapping: Node.Mapping, _ keys: Set<String>, at path: String) throws(Problem) {
        for key in mapping.keys {
            guard let name = key.string, keys.contains(name) else {
                let shown = key.string ?? "\(key)"
                throw Problem(entry: path.isEmpty ? shown : "\(path).\(shown)",
                              message: "unknown key; known here: \(keys.sorted().joined(separator: ", "))")
            }
        }
    }

    static func string(_ node: Node, at path: String) throws(Problem) -> String {
        guard let text = node.scalar?.string, !text.isEmpty else { throw Problem(entry: path, message: "must be text") }
        return text
    }

    static func age(_ node: Node, at path: String) throws(Problem) -> Int {
        guard let text = node.scalar?.string, let n = Int(text), (0...125).contains(n) else {
            throw Problem(entry: path, message: "must be a whole number of years from 0 to 125")
        }
        return n
    }

    static func bool(_ node: Node, at path: String) throws(Problem) -> Bool {
        switch node.scalar?.string.lowercased() {
        case "true": return true
        case "false": return false
        default: throw Problem(entry: path, message: "must be true or false")
        }
    }

    static func region(_ node: Node, at path: String) throws(Problem) -> Region {
        let text = try string(node, at: path)
        guard let region = Region(code: text) else {
            throw Problem(entry: path, message: "'\(text)' is not a region; write a country (US) or a country and state (US-CA)")
        }
        return region
    }

    static func strings(_ node: Node?, at path: String, lowercased: Bool) throws(Problem) -> Set<String> {
        guard let node else { return [] }
        guard let list = node.sequence else { throw Problem(entry: path, message: "must be a list, e.g. [a, b]") }
        var out: Set<String> = []
        for (index, item) in list.enumerated() {
            let text = try string(item, at: "\(path)[\(index)]")
            out.insert(lowercased ? text.lowercased() : text)
        }
        return out
    }

    static func describe(_ error: YamlError) -> String {
        String(describing: error).split(separator: "\n").first.map(String.init) ?? "a syntax error"
    }
}
