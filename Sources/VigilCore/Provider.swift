/// The services Vigil calls. The raw values are what the outbox, metrics labels, the API and the
/// timeline show, so they never change.
public enum Provider: String, Sendable, Codable, CaseIterable {
    /// The ID provider (Veriff).
    case veriff
    /// Email (SendGrid).
    case sendgrid
    /// The payment gateway (Stripe-compatible or Authorize.Net), for refunds.
    case payments
    /// The shop platform (Lightspeed eCom).
    case lightspeed
}

/// What Vigil asks a provider to do: one per kind of call, as the outbox and metrics name it.
public enum ProviderOperation: String, Sendable, Codable, CaseIterable {
    case createSession = "create_session"
    case sendEmail = "send_email"
    case refund
    case updateOrder = "update_order"
    /// Reading an order's payments at the shop platform, to refund them.
    case listPayments = "list_payments"
    /// A read-only credentials check for `/__selftest`.
    case check
    /// Reading a payment before refunding it (Authorize.Net): an HTTP exchange, never an outbox entry.
    case transactionDetails = "transaction_details"
}

/// Where a webhook came from: the shop platform's order events, or the ID provider's decisions.
public enum WebhookSource: String, Sendable, Codable, CaseIterable {
    case lightspeed
    case veriff
}

/// How provider calls are made: `sandbox` records them in the outbox and sends nothing; `live`
/// sends them.
public enum ProviderMode: String, Sendable, Codable, CaseIterable {
    case sandbox
    case live
}
