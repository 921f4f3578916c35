import Foundation
import VigilCore

/// A provider call that failed. The description is what the order's timeline and the task's
/// last error show: provider, operation, status and the provider's own message, never a
/// credential or a request body.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Worth another try later (timeouts, connection errors, 429, 5xx).
        case transient
        /// Will fail the same way again (4xx, a refusal in the body); needs a person.
        case permanent
    }

    public var provider: Provider
    public var operation: ProviderOperation
    public var kind: Kind
    public var status: Int?
    public var message: String
    /// When the provider asked us to come back (`Retry-After`).
    public var notBefore: Date?

    public init(provider: Provider, operation: ProviderOperation, kind: Kind, status: Int? = nil, message: String,
                notBefore: Date? = nil) {
        self.provider = provider
        self.operation = operation
        self.kind = kind
        self.status = status
        self.message = Self.withoutEmails(String(message.prefix(300)))
        self.notBefore = notBefore
    }

    /// A provider's error text is kept (the task's last error, the call attempt, the event log,
    /// the logs), so an address it quotes is taken out first.
    public static func withoutEmails(_ text: String) -> String {
        text.replacing(/[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+/, with: "[email]")
    }

    public var description: String {
        var text = "\(provider.rawValue) \(operation.rawValue) failed"
        if let status { text += " with HTTP \(status)" }
        return text + ": \(message)"
    }
}

/// A provider answered with a `Retry-After` longer than a call waits: try again then.
public struct ProviderThrottled: RetryTiming, CustomStringConvertible {
    public var error: ProviderError
    public var retryNotBefore: Date
    public var countsAsAttempt: Bool { true }
    public var description: String { "\(error) (retry after \(retryNotBefore))" }
}

/// The provider's circuit is open: the call was not made, and the task waits for the circuit
/// without using up an attempt.
public struct ProviderUnavailable: RetryTiming, CustomStringConvertible {
    public var provider: Provider
    public var retryNotBefore: Date
    public var countsAsAttempt: Bool { false }
    public var description: String {
        "\(provider.rawValue) is unavailable (circuit open after repeated failures); calls resume after \(retryNotBefore)"
    }
}
