import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import VigilCore

/// One outbound request to a provider. Header values may hold credentials: they are sent, never
/// logged or put in errors.
public struct OutboundRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [(String, String)]
    public var body: Data?
    /// Credentials sent in the body (Authorize.Net's); with every header value they are scrubbed
    /// from any provider answer quoted in an error, in case a provider echoes them back.
    public var bodySecrets: [Secret]

    public init(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil,
                bodySecrets: [Secret] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.bodySecrets = bodySecrets
    }

    /// Values never to quote back: credentials in headers (with and without their scheme) and body.
    var sensitiveValues: [String] {
        var values = bodySecrets.map(\.value)
        for (_, value) in headers {
            values.append(value)
            if let space = value.firstIndex(of: " ") { values.append(String(value[value.index(after: space)...])) }
        }
        // Short values (content types, "true") are not credentials and would garble the text.
        return values.filter { $0.count >= 8 }.sorted { $0.count > $1.count }
    }
}

public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    /// Values scrubbed from `snippet`.
    var sensitiveValues: [String] = []

    /// The provider's own words for an error, trimmed for a timeline entry, any credential of the
    /// request scrubbed out.
    public var snippet: String {
        var text = String(decoding: body.prefix(600), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        for value in sensitiveValues { text = text.replacingOccurrences(of: value, with: "<redacted>") }
        return text.isEmpty ? "(empty body)" : text
    }
}

/// Settings for all provider calls.
public struct ProviderHTTPSettings: Sendable {
    /// Bound on one HTTP exchange, connect to last body byte.
    public var timeout: TimeInterval
    public var retry: CallRetryPolicy
    public var breakerThreshold: Int
    public var breakerCooldown: TimeInterval

    public init(timeout: TimeInterval = 15, retry: CallRetryPolicy = CallRetryPolicy(), breakerThreshold: Int = 5,
                breakerCooldown: TimeInterval = 30) {
        self.timeout = timeout
        self.retry = retry
        self.breakerThreshold = breakerThreshold
        self.breakerCooldown = breakerCooldown
    }
}

/// The one HTTP client every live provider uses: per-call timeout, retries with full jitter for
/// what is worth retrying, a circuit breaker per provider, latency and error metrics. The shared
/// `HTTPClient` belongs to the caller, who shuts it down with the service group.
public struct ProviderHTTPClient: Sendable {
    static let maxResponseBytes = 1 << 20

    let http: HTTPClient
    let settings: ProviderHTTPSettings
    let clock: any VigilClock
    let logger: Logger
    let metrics: any MetricsFactory
    let random: @Sendable () -> Double
    private let breakers: [Provider: CircuitBreaker]

    public init(http: HTTPClient, settings: ProviderHTTPSettings, clock: any VigilClock, logger: Logger,
                metrics: any MetricsFactory = NOOPMetricsHandler.instance,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.http = http
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.random = random
        var breakers: [Provider: CircuitBreaker] = [:]
        for provider in Provider.allCases {
            breakers[provider] = CircuitBreaker(threshold: settings.breakerThreshold, cooldown: settings.breakerCooldown)
        }
        self.breakers = breakers
    }

    public func breaker(for provider: Provider) -> CircuitBreaker? { breakers[provider] }

    /// Each provider's circuit: open (calls refused until its cooldown ends) or not.
    public func openCircuits(now: Date) -> [Provider: Bool] {
        breakers.mapValues { breaker in
            if case .open(let until) = breaker.current { return until > now }
            return false
        }
    }

    /// Sends `request`, retrying what is worth retrying. Returns the first 2xx response; throws
    /// `ProviderError` (transient or permanent), `ProviderThrottled` or `ProviderUnavailable`.
    /// `maxAttempts` overrides the policy (credential checks try once).
    public func send(_ request: OutboundRequest, provider: Provider, operation: ProviderOperation,
                     maxAttempts: Int? = nil) async throws -> OutboundResponse {
        let breaker = breakers[provider]
        var attempt = 0
        var earlier: ProviderError?
        while true {
            attempt += 1
            if let until = breaker?.admit(now: clock.now()) {
                // A try of this call that failed may have reached the provider: the call failed
                // (and may have acted), it was not "never sent", and it counts as an attempt.
                if let earlier { throw ProviderThrottled(error: earlier, retryNotBefore: until) }
                throw ProviderUnavailable(provider: provider, retryNotBefore: until)
            }
            var failure: ProviderError
            var retryAfter: TimeInterval?
            let started = ContinuousClock.now
            do {
                let response = try await exchange(request)
                record(provider, operation, outcome: ExchangeOutcome(status: response.status), since: started)
                if (200..<300).contains(response.status) {
                    breaker?.recordSuccess()
                    return response
                }
                let retryable = CallRetryPolicy.isRetryable(status: response.status)
                failure = ProviderError(provider: provider, operation: operation, kind: retryable ? .transient : .permanent,
                                        status: response.status, message: response.snippet)
                if response.status >= 500 {
                    breaker?.recordFailure(now: clock.now())
                } else {
                    // The provider is up and answering; a 4xx or a throttle is not an outage.
                    breaker?.recordSuccess()
                }
                guard retryable else { throw failure }
                retryAfter = CallRetryPolicy.retryAfter(response.headers.first(name: "Retry-After"), now: clock.now())
            } catch let error as ProviderError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                record(provider, operation, outcome: .error, since: started)
                breaker?.recordFailure(now: clock.now())
                failure = ProviderError(provider: provider, operation: operation, kind: .transient,
                                        message: Self.describe(error))
            }

            let policy = settings.retry
            let wait = retryAfter ?? policy.delay(afterAttempt: attempt, random: random())
            if wait > policy.maxInCallWait {
                throw ProviderThrottled(error: failure, retryNotBefore: clock.now().addingTimeInterval(wait))
            }
            guard attempt < (maxAttempts ?? policy.maxAttempts) else {
                var last = failure
                last.notBefore = retryAfter.map { clock.now().addingTimeInterval($0) }
                if let notBefore = last.notBefore { throw ProviderThrottled(error: last, retryNotBefore: notBefore) }
                throw last
            }
            earlier = failure
            logger.warning("provider call failed; retrying", metadata: [
                "provider": .string(provider.rawValue), "operation": .string(operation.rawValue), "attempt": "\(attempt)",
                "retry_in": .string(DurationText.format(wait)), "error": .string(failure.description)])
            try await clock.sleep(until: clock.now().addingTimeInterval(wait))
        }
    }

    private func exchange(_ request: OutboundRequest) async throws -> OutboundResponse {
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = request.method
        for (name, value) in request.headers { outbound.headers.add(name: name, value: value) }
        if !outbound.headers.contains(name: "User-Agent") {
            outbound.headers.add(name: "User-Agent", value: "vigil/\(VigilVersion.current)")
        }
        if let body = request.body { outbound.body = .bytes(ByteBuffer(bytes: body)) }
        let timeout = TimeAmount.milliseconds(Int64(settings.timeout * 1000))
        let response = try await http.execute(outbound, timeout: timeout)
        let body = try await response.body.collect(upTo: Self.maxResponseBytes)
        return OutboundResponse(status: Int(response.status.code), headers: response.headers,
                                body: Data(body.readableBytesView), sensitiveValues: request.sensitiveValues)
    }

    private func record(_ provider: Provider, _ operation: ProviderOperation, outcome: ExchangeOutcome, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        Counter(label: "vigil_provider_requests_total",
                dimensions: [("provider", provider.rawValue), ("operation", operation.rawValue), ("outcome", outcome.rawValue)], factory: metrics)
            .increment()
        Timer(label: "vigil_provider_request_duration_seconds",
              dimensions: [("provider", provider.rawValue), ("operation", operation.rawValue)], factory: metrics)
            .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    /// A transport failure in words an operator can act on, without URLs that might carry tokens.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout:
            return "no answer within the timeout"
        case let error as HTTPClientError where error == .connectTimeout:
            return "connecting timed out"
        case let error as HTTPClientError where error == .remoteConnectionClosed:
            return "the provider closed the connection"
        case let error as HTTPClientError where error == .bodyLengthMismatch:
            return "the response body was cut short"
        case let error as IOError:
            return "connection failed: \(error.description)"
        case is NIOTooManyBytesError:
            return "the response body is larger than \(maxResponseBytes) bytes"
        default:
            return "connection failed: \(String(describing: type(of: error)))"
        }
    }
}

/// One HTTP exchange with a provider, as `vigil_provider_requests_total` labels it.
public enum ExchangeOutcome: String, CaseIterable, Sendable {
    case informational = "1xx", success = "2xx", redirect = "3xx", clientError = "4xx", serverError = "5xx"
    /// No answer: a timeout or a connection failure.
    case error

    init(status: Int) {
        switch status {
        case ..<200: self = .informational
        case ..<300: self = .success
        case ..<400: self = .redirect
        case ..<500: self = .clientError
        default: self = .serverError
        }
    }
}
