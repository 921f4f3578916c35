import Foundation
import VigilCore
import VigilQueue

/// The kinds of task the verification flow schedules, and the queue each runs on.
public enum FlowTask: String, Sendable, CaseIterable {
    /// Open a session at the ID provider; on success, email the link.
    case openSession = "open_session"
    /// Timer: the reminder, if the session is still pending.
    case reminder
    /// Timer: the deadline; a pending session expires.
    case deadline
    case sendEmail = "send_email"
    case refund
    /// Refund one payment of an order whose payments the shop reported.
    case refundPayment = "refund_payment"
    case updateOrder = "update_order"
    /// Hourly: retention and erasure of personal data past its time (`DataRetention`).
    case maintenance

    public var queue: String {
        switch self {
        case .openSession: FlowQueues.verification
        case .reminder, .deadline, .maintenance: FlowQueues.timers
        case .sendEmail: FlowQueues.email
        case .refund, .refundPayment: FlowQueues.refunds
        case .updateOrder: FlowQueues.orders
        }
    }
}

/// Queue names and their retry configuration.
public enum FlowQueues {
    public static let verification = "verification"
    public static let timers = "timers"
    public static let email = "email"
    public static let refunds = "refunds"
    public static let orders = "orders"

    /// Defaults chosen for provider calls: quick first retries, then patient ones, so a
    /// provider outage of a day does not dead-letter a refund.
    public static func defaults(concurrency: Int = 4) -> [QueueConfig] {
        [
            QueueConfig(name: verification, maxAttempts: 20, maxRetryDuration: 24 * 3600, minBackoff: 5,
                        maxBackoff: 1800, maxDoublings: 6, jitter: 0.2, maxConcurrent: concurrency),
            // Timers touch only the database; they retry quickly and indefinitely.
            QueueConfig(name: timers, maxAttempts: -1, maxRetryDuration: 0, minBackoff: 1,
                        maxBackoff: 300, maxDoublings: 8, jitter: 0.2, maxConcurrent: concurrency),
            QueueConfig(name: email, maxAttempts: 20, maxRetryDuration: 2 * 24 * 3600, minBackoff: 10,
                        maxBackoff: 3600, maxDoublings: 6, jitter: 0.2, maxConcurrent: concurrency),
            QueueConfig(name: refunds, maxAttempts: 30, maxRetryDuration: 3 * 24 * 3600, minBackoff: 10,
                        maxBackoff: 3600, maxDoublings: 6, jitter: 0.2, maxConcurrent: concurrency),
            QueueConfig(name: orders, maxAttempts: 20, maxRetryDuration: 2 * 24 * 3600, minBackoff: 10,
                        maxBackoff: 3600, maxDoublings: 6, jitter: 0.2, maxConcurrent: concurrency),
        ]
    }
}

/// Unique task names per order: enqueuing the same step twice is a no-op. A name is
/// `order/<order id>/<task>[/<suffix>]` with `%` and `/` percent-encoded in the parts, so no order
/// id can produce another order's name (`C1/send_email` is `order/C1%2Fsend_email/...`, never
/// order `C1`'s email). Names written before this scheme (`order:<id>:<task>`) stay as they are:
/// a task's idempotency key derives from its stored name, so a task in flight across an upgrade
/// keeps its key.
enum TaskNames {
    static func of(_ task: FlowTask, order: String, suffix: String? = nil) -> String {
        var name = "order/\(escape(order))/\(task.rawValue)"
        if let suffix { name += "/\(escape(suffix))" }
        return name
    }

    static func escape(_ part: String) -> String {
        part.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
    }
}

/// Payloads of the tasks that need one.
struct EmailPayload: Codable, Sendable { var kind: EmailKind }
struct RefundPayload: Codable, Sendable { var reason: String }
/// `paid` is what the shop reports for the payment (absent in tasks queued before it was kept).
struct PaymentRefundPayload: Codable, Sendable { var reason: String; var reference: String; var amount: Decimal; var paid: Decimal?; var currency: String? }
struct OrderUpdatePayload: Codable, Sendable { var action: OrderAction; var note: String }
