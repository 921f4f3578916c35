import Foundation
import VigilCore

/// One documented setting: the variables it reads, what it means, and its default as written
/// from `VigilConfig()`'s own initial values, so the code, `vigil --help` and the README (held to
/// this table by `ConfigurationTests`) cannot disagree on a default.
public struct SettingDoc: Sendable {
    public let variable: String
    public let meaning: String
    /// As the README writes it; nil when the setting has none.
    public let defaultValue: String?

    init(_ variable: String, _ meaning: String, default defaultValue: String? = nil) {
        self.variable = variable
        self.meaning = meaning
        self.defaultValue = defaultValue
    }

    var helpLine: String { defaultValue.map { "\(meaning) (default \($0))" } ?? meaning }
}

/// Help text listing the environment variables, shown by `vigil --help` and each command.
/// Each variable on its own line with its meaning indented below, wrapped short enough that
/// the argument parser's 80-column wrapping leaves it alone.
public enum EnvironmentHelp {
    static let defaults = VigilConfig()
    static func duration(_ seconds: TimeInterval) -> String { DurationText.format(seconds) }

    public static let databaseSettings: [SettingDoc] = [
        SettingDoc("VIGIL_DATABASE_URL", "sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB?sslmode=disable|require|verify-full; also VIGIL_DATABASE_URL_FILE",
                   default: "sqlite://\(VigilConfig.defaultSQLitePath)"),
        SettingDoc("VIGIL_DB_POOL_MAX", "PostgreSQL pool size, at least 2", default: "\(defaults.poolMax)"),
        SettingDoc("VIGIL_DB_CONNECT_TIMEOUT", "PostgreSQL connect timeout", default: duration(defaults.connectTimeout)),
        SettingDoc("VIGIL_DB_QUERY_TIMEOUT", "longest wait for one PostgreSQL statement", default: duration(defaults.queryTimeout)),
        SettingDoc("VIGIL_DB_IDLE_TIMEOUT", "close pooled PostgreSQL connections idle this long", default: duration(defaults.idleTimeout)),
        SettingDoc("VIGIL_DB_PREPARED_STATEMENTS", "prepare PostgreSQL statements once per connection; false behind a transaction-mode pooler",
                   default: "\(defaults.preparedStatements)"),
    ]

    public static let logSettings: [SettingDoc] = [
        SettingDoc("VIGIL_LOG_FORMAT", "text | json", default: "text"),
        SettingDoc("VIGIL_LOG_LEVEL", "trace | debug | info | notice | warning | error | critical", default: defaults.logLevel.rawValue),
    ]

    public static let serviceSettings: [SettingDoc] = [
        SettingDoc("VIGIL_ENV", "development | production", default: defaults.environment.rawValue),
        SettingDoc("VIGIL_HOST", "listen address", default: defaults.host),
        SettingDoc("VIGIL_PORT", "listen port", default: "\(defaults.port)"),
        SettingDoc("VIGIL_PUBLIC_URL", "https URL customers reach Vigil at; emails link to <this>/v/<token> (required in production)", default: nil),
        SettingDoc("VIGIL_CONSOLE_SESSION_TTL", "how long a console sign-in lasts", default: duration(defaults.consoleSessionTTL)),
        SettingDoc("VIGIL_RETENTION", "finished tasks and webhook payloads are kept this long", default: duration(defaults.retention)),
        SettingDoc("VIGIL_PERSONAL_DATA_RETENTION", "personal data of decided orders is erased this long after the decision",
                   default: duration(defaults.personalDataRetention)),
    ] + databaseSettings + [
        SettingDoc("VIGIL_PROVIDERS", "sandbox | live; SAFE_MODE=true means sandbox", default: defaults.providers.rawValue),
        SettingDoc("VIGIL_VERIFICATION_DEADLINE", "time the customer has to verify", default: duration(defaults.verificationDeadline)),
        SettingDoc("VIGIL_POLICY_FILE", "the age policy as YAML: minimum ages by region, blocked regions, which orders are checked, remembered customers (vigil policy check FILE)"),
        SettingDoc("VIGIL_MINIMUM_AGE", "minimum age without a policy file", default: "\(AgePolicy.defaultMinimumAge)"),
        SettingDoc("VIGIL_TIME_ZONE", "the shop's time zone, in which ages are counted, without a policy file", default: "UTC"),
        SettingDoc("VIGIL_REMEMBER_CUSTOMERS", "how long a customer verified of age is released without a new check, without a policy file; 0 turns it off",
                   default: duration(AgePolicy.defaultRememberFor)),
        SettingDoc("VIGIL_DATA_KEY", "32+ random characters keying customers' hashes and links (required in production)"),
        SettingDoc("VIGIL_ENCRYPTION_KEY", "AES-256 key sealing customers' emails, names and raw payloads at rest: 32 bytes as base64 (openssl rand -base64 32); unset, one derived from VIGIL_DATA_KEY"),
        SettingDoc("VIGIL_ENCRYPTION_KEY_PREVIOUS", "earlier encryption keys, comma-separated: they still open values until vigil reencrypt has rewritten them"),
        SettingDoc("VIGIL_REMINDER_AFTER", "reminder email if still pending", default: duration(defaults.reminderAfter)),
        SettingDoc("VIGIL_LIGHTSPEED_WEBHOOK_SECRET", "HMAC secret(s) for order webhooks, comma-separated for rotation"),
        SettingDoc("VIGIL_VERIFF_SHARED_SECRET", "HMAC secret(s) for decision webhooks, comma-separated for rotation"),
        SettingDoc("VIGIL_VERIFF_API_KEY", "ID provider's API key (live); the first shared secret signs requests"),
        SettingDoc("VIGIL_VERIFF_BASE_URL", "ID provider's API", default: defaults.veriffBaseURL),
        SettingDoc("VIGIL_VERIFF_CALLBACK_URL", "where Veriff sends decisions (live)"),
        SettingDoc("VIGIL_SENDGRID_API_KEY", "email (live)"),
        SettingDoc("VIGIL_SENDGRID_BASE_URL", "email API", default: defaults.sendgridBaseURL),
        SettingDoc("VIGIL_EMAIL_FROM", "sender address (live)"),
        SettingDoc("VIGIL_SENDGRID_TEMPLATE_<KIND>",
                   "SendGrid dynamic template id per KIND: VERIFICATION_LINK, REMINDER, APPROVED, DECLINED, EXPIRED (required in live), RESUBMISSION (falls back to VERIFICATION_LINK)"),
        SettingDoc("VIGIL_PAYMENTS_GATEWAY", "refunds: stripe (secret key) | authorizenet (transaction key)", default: defaults.paymentsGateway.rawValue),
        SettingDoc("VIGIL_PAYMENTS_API_KEY", "the gateway's secret key or transaction key (live)"),
        SettingDoc("VIGIL_PAYMENTS_BASE_URL", "the gateway's API (default: the gateway's own)"),
        SettingDoc("VIGIL_PAYMENTS_LOGIN_ID", "Authorize.Net API login id"),
        SettingDoc("VIGIL_LIGHTSPEED_API_TOKEN", "order updates (live): KEY:SECRET"),
        SettingDoc("VIGIL_LIGHTSPEED_BASE_URL", "the shop's API URL (live)"),
        SettingDoc("VIGIL_LIGHTSPEED_HOLD_STATUS", "status that holds an order waiting for its check; none holds nothing",
                   default: defaults.lightspeedHoldStatus),
        SettingDoc("VIGIL_LIGHTSPEED_RELEASE_STATUS", "status that releases an approved order", default: defaults.lightspeedReleaseStatus),
        SettingDoc("VIGIL_PROVIDER_TIMEOUT", "bound on one provider exchange", default: duration(defaults.providerHTTP.timeout)),
        SettingDoc("VIGIL_PROVIDER_MAX_ATTEMPTS", "tries per provider call", default: "\(defaults.providerHTTP.retry.maxAttempts)"),
        SettingDoc("VIGIL_PROVIDER_BREAKER_THRESHOLD", "consecutive failures that open a provider's circuit",
                   default: "\(defaults.providerHTTP.breakerThreshold)"),
        SettingDoc("VIGIL_PROVIDER_BREAKER_COOLDOWN", "how long an open circuit stays open", default: duration(defaults.providerHTTP.breakerCooldown)),
        SettingDoc("VIGIL_ADMIN_TOKEN", "bearer token(s) for the admin API, comma-separated for rotation"),
        SettingDoc("VIGIL_CORS_ORIGINS", "browser origins allowed to call the API, comma-separated; CORS is off without it"),
        SettingDoc("VIGIL_WEBHOOK_TIMEOUT", "answer a webhook 503 after this long", default: duration(defaults.webhookTimeout)),
        SettingDoc("VIGIL_ADMIN_TIMEOUT", "answer an admin request 503 after this long", default: duration(defaults.adminTimeout)),
        SettingDoc("VIGIL_AUTH_FAILURE_LIMIT", "failed signature or token checks per source address and minute before 429; 0 is no limit",
                   default: "\(defaults.authFailureLimit)"),
        SettingDoc("VIGIL_HTTP_IDLE_TIMEOUT", "close a connection with no request in progress after this long",
                   default: duration(defaults.http.idleTimeout)),
        SettingDoc("VIGIL_HTTP_HEADER_TIMEOUT", "a request's headers must arrive within this of its first byte (else 408)",
                   default: duration(defaults.http.headerTimeout)),
        SettingDoc("VIGIL_HTTP_BODY_TIMEOUT", "a request's body must arrive within this of its headers",
                   default: duration(defaults.http.bodyTimeout)),
        SettingDoc("VIGIL_HTTP_MAX_CONNECTIONS", "connections open at once; more wait to be accepted",
                   default: "\(defaults.http.maxConnections)"),
        SettingDoc("VIGIL_WEBHOOK_MAX_AGE", "refuse webhooks dated earlier than this as replays", default: duration(defaults.webhookMaxAge)),
    ] + logSettings + [
        SettingDoc("VIGIL_OTLP_ENDPOINT", "OTLP/HTTP receiver for traces, e.g. http://127.0.0.1:4318 (/v1/traces is added); tracing is off without it; needs a vigil built with --traits OTLP"),
        SettingDoc("VIGIL_OTLP_PROTOCOL", "http/protobuf | http/json", default: defaults.otlpProtocol.rawValue),
        SettingDoc("VIGIL_OTLP_SERVICE_NAME", "service.name on exported traces", default: defaults.otlpServiceName),
    ] + [
        SettingDoc("VIGIL_TASK_LEASE", "how long a running task is leased before another worker may retake it", default: duration(defaults.taskLease)),
        SettingDoc("VIGIL_WORKER_CONCURRENCY", "tasks of each queue run at once per process", default: "\(defaults.workerConcurrency)"),
    ]

    public static let database = "Environment:\n" + render(databaseSettings + logSettings)

    public static let all = "Environment (secrets may also be given as NAME_FILE, a file holding the value):\n"
        + render(serviceSettings)
        + "\nExit codes: 0 success, 1 runtime failure, 2 bad usage or configuration."

    static func render(_ entries: [SettingDoc]) -> String {
        entries.map { "  \($0.variable)\n" + wrap($0.helpLine, indent: "      ", width: 76) }.joined()
    }

    /// Word-wraps `text` into lines of at most `width` columns, each starting with `indent`.
    static func wrap(_ text: String, indent: String, width: Int) -> String {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count, line.count + 1 + word.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        lines.append(line)
        return lines.joined(separator: "\n") + "\n"
    }
}
