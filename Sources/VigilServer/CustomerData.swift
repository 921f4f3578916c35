import Foundation
import VigilCore
import VigilStore

/// Erasure and export on a customer's request, by order or by email (found by its keyed hash):
/// shared by the admin API and the command line. Idempotent: erasing twice erases once.
enum CustomerData {
    static func erase(_ store: any Store, orderIds: [String], at: Date) async throws -> ErasureBody {
        var body = ErasureBody()
        for orderId in orderIds {
            switch try await store.eraseOrder(orderId, at: at) {
            case .erased: body.erased.append(orderId)
            case .alreadyErased: body.alreadyErased.append(orderId)
            case .pending: body.pending.append(orderId)
            case .notFound: body.notFound.append(orderId)
            }
        }
        return body
    }

    /// The orders of a customer, by email: at most 1,000.
    static func orders(_ store: any Store, email: String, keys: CustomerKeys) async throws -> [String] {
        try await store.sessions(customerKey: keys.email(email), limit: 1000).map(\.orderId)
    }

    static func export(_ store: any Store, email: String, keys: CustomerKeys) async throws -> ExportBody {
        var orders: [OrderDetail] = []
        for id in try await Self.orders(store, email: email, keys: keys) { orders.append(try await OrderRoutes.order(id, in: store)) }
        return ExportBody(orders: orders)
    }
}

/// What an erasure did, order by order.
struct ErasureBody: Codable, Equatable {
    var erased: [String] = []
    var alreadyErased: [String] = []
    /// Still pending: decide or cancel these first.
    var pending: [String] = []
    var notFound: [String] = []
}

/// Everything Vigil holds about a customer's orders.
struct ExportBody: Codable, Equatable {
    var orders: [OrderDetail]
}

/// `POST /api/v1/customers/erase` and `/export`.
struct CustomerRequest: Codable, Equatable {
    var email: String
}

/// `vigil erase` and `vigil export`: the same requests from the command line, as JSON text.
public enum CustomerDataCommand {
    public static func erase(_ store: any Store, config: VigilConfig, orderIds: [String], email: String?, at: Date) async throws -> String {
        var ids = orderIds
        if let email { ids += try await CustomerData.orders(store, email: email, keys: config.customerKeys) }
        let body = try await CustomerData.erase(store, orderIds: ids, at: at)
        let target = email.map { config.customerKeys.email($0) } ?? orderIds.joined(separator: ",")
        let entry = AuditRecord(at: at, actor: "cli", action: email == nil ? "order.erase" : "customer.erase", target: String(target.prefix(256)),
                                outcome: "erased:\(body.erased.count),pending:\(body.pending.count)", ip: nil, userAgent: nil, requestId: nil)
        try await store.write { tx in try await tx.appendAudit(entry) }
        return try APIJSON.text(body)
    }

    public static func export(_ store: any Store, config: VigilConfig, email: String, at: Date) async throws -> String {
        let body = try await CustomerData.export(store, email: email, keys: config.customerKeys)
        let entry = AuditRecord(at: at, actor: "cli", action: "customer.export", target: config.customerKeys.email(email),
                                outcome: "orders:\(body.orders.count)", ip: nil, userAgent: nil, requestId: nil)
        try await store.write { tx in try await tx.appendAudit(entry) }
        return try APIJSON.text(body)
    }

    /// `vigil reencrypt`: reseals personal data under the current key, audited with the key's id.
    public static func reencrypt(_ store: any Store, config: VigilConfig, at: Date) async throws -> String {
        let report = try await store.reencryptPersonalData(batchSize: 500)
        let entry = AuditRecord(at: at, actor: "cli", action: "data.reencrypt", target: "key:" + config.fieldCipher.current.id,
                                outcome: "rows:\(report.total)", ip: nil, userAgent: nil, requestId: nil)
        try await store.write { tx in try await tx.appendAudit(entry) }
        return try APIJSON.text(ReencryptBody(key: config.fieldCipher.current.id, rewritten: report))
    }
}

/// What `vigil reencrypt` prints.
struct ReencryptBody: Codable, Sendable {
    var key: String
    var rewritten: ReencryptionReport
}
