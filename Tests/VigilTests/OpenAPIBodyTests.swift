import Foundation
import Testing
import VigilCore
import VigilQueue
@testable import VigilServer
import VigilStore
import Yams

/// The OpenAPI document's response schemas against the Codable types that produce the bodies:
/// every JSON response names a component schema, every such schema has a sample from its Swift
/// type here, each sample validates (no undocumented field, every required one present), and
/// every documented field appears in some sample (no documented field the type cannot produce).
@Suite("OpenAPI description: bodies")
struct OpenAPIBodyTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000.5)

    static var session: SessionRecord {
        SessionRecord(orderId: "A1", state: .pending, refundStatus: .none, customerEmail: "a@example.com", customerName: "Ada",
                      customerId: "c1", orderTotal: 50, currency: "USD", paymentId: "pi_1", verificationId: "v1",
                      verificationURL: "https://example.com/v/1", deadline: at, reminderAt: at, createdAt: at, updatedAt: at,
                      decidedAt: at, outcomeReason: .underage, minimumAge: 21, ageRule: "US-CA", ofAge: false, region: "US-CA",
                      reviewReason: "under review at the ID provider")
    }

    static var task: TaskView {
        TaskView(TaskRecord(id: 1, name: "order/A1/refund", queue: "refunds", kind: "refund", orderId: "A1", payload: "{}",
                            state: .dead, attempts: 3, scheduledAt: at, firstAttemptAt: at, lastError: "HTTP 500",
                            createdAt: at, updatedAt: at))
    }

    /// Samples of every Swift body, by the component schema that describes it; optional fields
    /// filled in at least once.
    static var samples: [String: [any Encodable]] {
        let outbox = OutboxEntry(OutboxRecord(idempotencyKey: "vigil_k", provider: .payments, operation: .refund, orderId: "A1",
                                              taskId: 1, mode: .sandbox, request: #"{"a":1}"#, response: #"{"b":[true,null]}"#, at: at))
        let timeline = TimelineEntry(EventLogEntry(id: 1, orderId: "A1", type: "session.created", at: at, data: #"{"x":1.5}"#))
        let attempt = AttemptView(ProviderAttempt(taskId: 1, orderId: "A1", kind: "refund", attempt: 2, owner: "host-1-ab", startedAt: at,
                                                  endedAt: at, outcome: .failed, error: "HTTP 500"), task: nil)
        let summary = SessionSummary(session)
        let s = session
        return [
            "Problem": [ProblemBody(type: "urn:vigil:problem:not-found", title: "Not found", status: 404, detail: "d", requestId: "r")],
            "Session": [summary],
            "Idempotent": [IdempotentBody(orderId: "A1"), IdempotentBody()],
            "Ignored": [IgnoredBody(event: "order.updated", orderId: "A1")],
            "Decision": [DecisionBody(orderId: "A1", status: .approved, event: "session.approved"),
                         DecisionBody(review: true, detail: "no session for this order; recorded for review")],
            "Liveness": [LivenessBody(version: "0.1.0", safeMode: true)],
            "Readiness": [ReadinessBody(status: "ok", version: "0.1.0", datastore: "ok", scheduler: "ok", datastoreLatencyMs: 1.5)],
            "SelfTest": [SelfTestBody(status: "ok", safeMode: true, veriff: "safe_mode", sendgrid: "safe_mode", payments: "ok",
                                      lightspeed: "fail", datastore: "ok", scheduler: "ok", details: ["lightspeed": "401"],
                                      warnings: ["w"])],
            "OrderPage": [OrderPage(orders: [summary], nextCursor: "abc")],
            "OrderView": [OrderDetail(orderId: s.orderId, status: s.state, refundStatus: s.refundStatus, deadline: s.deadline,
                                      createdAt: s.createdAt, reminderAt: s.reminderAt, verificationUrl: s.verificationURL,
                                      decidedAt: s.decidedAt, reason: s.outcomeReason, minimumAge: s.minimumAge,
                                      ageRule: s.ageRule, ofAge: s.ofAge, review: s.reviewReason, region: s.region,
                                      customerEmail: s.customerEmail, verificationId: s.verificationId,
                                      tasks: [task], timeline: [timeline], outbox: [outbox], attempts: [attempt])],
            "Export": [ExportBody(orders: [OrderDetail(orderId: s.orderId, status: s.state, refundStatus: s.refundStatus, deadline: s.deadline,
                                      createdAt: s.createdAt, reminderAt: s.reminderAt, verificationUrl: s.verificationURL,
                                      decidedAt: s.decidedAt, reason: s.outcomeReason, minimumAge: s.minimumAge,
                                      ageRule: s.ageRule, ofAge: s.ofAge, review: s.reviewReason, region: s.region,
                                      customerEmail: s.customerEmail, verificationId: s.verificationId,
                                      tasks: [task], timeline: [timeline], outbox: [outbox], attempts: [attempt])])],
            "TaskList": [TaskList(tasks: [task])],
            "Revoked": [RevokedBody(revoked: 1)],
            "TaskRetried": [TaskRetried(retried: true, task: task)],
            "Erasure": [ErasureBody(erased: ["A1"], alreadyErased: ["A2"], pending: ["A3"], notFound: ["A4"])],
            "Review": [ReviewView(ReviewRecord(id: 1, orderId: "A1", reason: "r", eventId: "e", createdAt: at, resolvedAt: at,
                                               resolvedBy: "user:ada", note: "refunded by hand"))],
            "TaskCancelled": [TaskCancelled(cancelled: false, task: task)],
            "ReviewList": [ReviewList(reviews: [ReviewView(ReviewRecord(id: 1, orderId: "A1", reason: "r", eventId: "e", createdAt: at))])],
            "AuditList": [AuditList(audit: [AuditView(AuditRecord(id: 1, at: at, actor: "token:abc", action: "order.read", target: "A1",
                                                                  outcome: "ok", ip: "127.0.0.1", userAgent: "curl", requestId: "r"))])],
        ]
    }

    static func document() throws -> [String: Any] {
        try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
    }

    /// The component schemas that JSON responses refer to.
    static func responseSchemas(_ doc: [String: Any]) throws -> Set<String> {
        var names: Set<String> = []
        let components = doc["components"] as? [String: Any]
        let shared = components?["responses"] as? [String: Any] ?? [:]
        func collect(_ schema: Any?, where place: String) throws {
            let schema = try #require(schema as? [String: Any], "\(place): no schema")
            if let ref = schema["$ref"] as? String {
                names.insert(String(ref.split(separator: "/").last ?? ""))
            } else if let alternatives = (schema["oneOf"] ?? schema["anyOf"]) as? [[String: Any]] {
                for alternative in alternatives { try collect(alternative, where: place) }
            } else {
                Issue.record("\(place): an inline response schema; name it under components/schemas so it is held to a type")
            }
        }
        for (path, item) in doc["paths"] as? [String: Any] ?? [:] {
            for (method, operation) in item as? [String: Any] ?? [:] {
                for (status, response) in (operation as? [String: Any])?["responses"] as? [String: Any] ?? [:] {
                    var response = response as? [String: Any] ?? [:]
                    if let ref = response["$ref"] as? String { response = shared[String(ref.split(separator: "/").last ?? "")] as? [String: Any] ?? [:] }
                    for (media, content) in response["content"] as? [String: Any] ?? [:] where media == "application/json" || media.hasSuffix("+json") {
                        try collect((content as? [String: Any])?["schema"], where: "\(method.uppercased()) \(path) \(status)")
                    }
                }
            }
        }
        return names
    }

    @Test("every JSON response names a component schema, and each has samples from its Swift type")
    func everyResponseHasAType() throws {
        let names = try Self.responseSchemas(try Self.document())
        #expect(names.count >= 15)
        #expect(names == Set(Self.samples.keys), "schemas without a sample: \(names.subtracting(Self.samples.keys).sorted()); samples without a schema: \(Set(Self.samples.keys).subtracting(names).sorted())")
    }

    @Test("each Swift body validates against its schema, and every documented field is one the type writes")
    func bodiesMatchSchemas() throws {
        let doc = try Self.document()
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let validator = SchemaValidator(schemas: schemas)
        for (name, samples) in Self.samples {
            let schema = try #require(schemas[name], "no schema \(name)")
            var seen: Set<String> = []
            for sample in samples {
                let data = try APIJSON.encoder().encode(AnyEncodable(sample))
                let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
                let problems = validator.validate(value, against: schema, at: name)
                #expect(problems.isEmpty, "\(name): \(problems)")
                seen.formUnion((value as? [String: Any])?.keys ?? [:].keys)
            }
            let documented = Set(validator.properties(of: schema))
            #expect(documented.subtracting(seen).isEmpty, "\(name) documents fields its type never writes: \(documented.subtracting(seen).sorted())")
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// The part of JSON Schema the document uses: `$ref`, `type` (one or several), `enum`, `const`,
/// `required`, `properties`, `additionalProperties`, `items`, `oneOf`/`anyOf`, and `format:
/// date-time`. Objects with `properties` are taken as closed: a field the schema does not name is
/// a problem, so the document cannot fall behind the types.
struct SchemaValidator {
    let schemas: [String: Any]

    func resolve(_ schema: Any) -> [String: Any] {
        var schema = schema as? [String: Any] ?? [:]
        while let ref = schema["$ref"] as? String {
            schema = schemas[String(ref.split(separator: "/").last ?? "")] as? [String: Any] ?? [:]
        }
        return schema
    }

    func properties(of schema: Any) -> [String] {
        Array((resolve(schema)["properties"] as? [String: Any] ?? [:]).keys)
    }

    func validate(_ value: Any, against schema: Any, at path: String) -> [String] {
        let schema = resolve(schema)
        if let alternatives = (schema["oneOf"] ?? schema["anyOf"]) as? [Any] {
            let results = alternatives.map { validate(value, against: $0, at: path) }
            return results.contains(where: \.isEmpty) ? [] : ["\(path): matches no alternative: \(results)"]
        }
        var problems: [String] = []
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { Self.same($0, value) }) {
            problems.append("\(path): \(value) is not one of \(allowed)")
        }
        if let constant = schema["const"], !Self.same(constant, value) {
            problems.append("\(path): \(value) is not \(constant)")
        }
        let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map { [$0] } ?? []
        if !types.isEmpty, !types.contains(where: { Self.isOfType(value, $0) }) {
            problems.append("\(path): \(value) is not \(types)")
        }
        if schema["format"] as? String == "date-time", let text = value as? String, Timestamp.parse(text) == nil {
            problems.append("\(path): '\(text)' is not a date-time")
        }
        if let object = value as? [String: Any], types.isEmpty || types.contains("object") {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): required field \(key) is missing")
            }
            let properties = schema["properties"] as? [String: Any]
            for (key, field) in object {
                if let property = properties?[key] {
                    problems += validate(field, against: property, at: "\(path).\(key)")
                } else if let extra = schema["additionalProperties"] as? [String: Any] {
                    problems += validate(field, against: extra, at: "\(path).\(key)")
                } else if properties != nil {
                    problems.append("\(path): field \(key) is not documented")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, element) in array.enumerated() { problems += validate(element, against: items, at: "\(path)[\(index)]") }
        }
        return problems
    }

    /// Equal as JSON values (a YAML `true` against a decoded JSON `true`, which prints as 1).
    static func same(_ a: Any, _ b: Any) -> Bool {
        if isOfType(a, "boolean") || isOfType(b, "boolean") {
            return isOfType(a, "boolean") && isOfType(b, "boolean") && (a as? Bool) == (b as? Bool)
        }
        return "\(a)" == "\(b)"
    }

    static func isOfType(_ value: Any, _ type: String) -> Bool {
        let isBool = value is Bool && String(describing: Swift.type(of: value)).contains("Bool")
        switch type {
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return isBool
        case "integer": return !isBool && (value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } == true
        case "number": return !isBool && value is NSNumber
        case "null": return value is NSNull
        default: return false
        }
    }
}
