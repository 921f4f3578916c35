/// Help text listing the environment variables, shown by `vigil --help` and each command.
/// Each variable on its own line with its meaning indented below, wrapped short enough that
/// the argument parser's 80-column wrapping leaves it alone.
public enum EnvironmentHelp {
    static let databaseVariables: [(String, String)] = [
        ("VIGIL_DATABASE_URL", "sqlite://PATH (default sqlite://vigil-data/vigil.sqlite) or postgres://USER:PASS@HOST:PORT/DB?sslmode=disable|require|verify-full"),
        ("VIGIL_DB_POOL_MAX", "PostgreSQL pool size, at least 2 (default 20)"),
        ("VIGIL_DB_CONNECT_TIMEOUT", "PostgreSQL connect timeout (default 10s)"),
        ("VIGIL_DB_QUERY_TIMEOUT", "longest wait for one PostgreSQL statement (default 30s)"),
        ("VIGIL_DB_IDLE_TIMEOUT", "close pooled PostgreSQL connections idle this long (default 60s)"),
        ("VIGIL_DB_PREPARED_STATEMENTS", "prepare PostgreSQL statements once per connection (default true; false behind a transaction-mode pooler)"),
    ]

    static let logVariables: [(String, String)] = [
        ("VIGIL_LOG_FORMAT", "text | json (default text in development, json in production)"),
        ("VIGIL_LOG_LEVEL", "trace | debug | info | notice | warning | error | critical (default info)"),
    ]

    static let serviceVariables: [(String, String)] = [
        ("VIGIL_ENV", "development | production (default development)"),
        ("VIGIL_HOST / VIGIL_PORT", "listen address (default 127.0.0.1 / 8080)"),
    ] + databaseVariables + [
        ("VIGIL_PROVIDERS", "sandbox | live (default sandbox); SAFE_MODE=true means sandbox"),
        ("VIGIL_VERIFICATION_DEADLINE", "time the customer has to verify (default 72h)"),
        ("VIGIL_REMINDER_AFTER", "reminder email if still pending (default 24h)"),
        ("VIGIL_LIGHTSPEED_WEBHOOK_SECRET", "HMAC secret(s) for order webhooks, comma-separated for rotation"),
        ("VIGIL_VERIFF_SHARED_SECRET", "HMAC secret(s) for decision webhooks, comma-separated for rotation"),
        ("VIGIL_VERIFF_API_KEY, VIGIL_VERIFF_BASE_URL, VIGIL_VERIFF_CALLBACK_URL", "ID provider (live); the first shared secret signs requests"),
        ("VIGIL_SENDGRID_API_KEY, VIGIL_SENDGRID_BASE_URL, VIGIL_EMAIL_FROM", "email (live)"),
        ("VIGIL_SENDGRID_TEMPLATE_<KIND>",
         "SendGrid dynamic template id per KIND: VERIFICATION_LINK, REMINDER, APPROVED, DECLINED, EXPIRED (required in live), RESUBMISSION (falls back to VERIFICATION_LINK)"),
        ("VIGIL_PAYMENTS_GATEWAY, VIGIL_PAYMENTS_API_KEY, VIGIL_PAYMENTS_BASE_URL",
         "refunds: stripe (secret key) | authorizenet (transaction key)"),
        ("VIGIL_PAYMENTS_LOGIN_ID", "Authorize.Net API login id"),
        ("VIGIL_LIGHTSPEED_API_TOKEN, VIGIL_LIGHTSPEED_BASE_URL", "order updates (live): KEY:SECRET and the shop's API URL"),
        ("VIGIL_LIGHTSPEED_RELEASE_STATUS", "status that releases an approved order (default processing_awaiting_shipment)"),
        ("VIGIL_PROVIDER_TIMEOUT / VIGIL_PROVIDER_MAX_ATTEMPTS", "one provider exchange's bound and tries per call (default 15s / 3)"),
        ("VIGIL_PROVIDER_BREAKER_THRESHOLD / VIGIL_PROVIDER_BREAKER_COOLDOWN",
         "failures that open a provider's circuit, and for how long (default 5 / 30s)"),
        ("VIGIL_ADMIN_TOKEN", "bearer token(s) for the admin API, comma-separated for rotation"),
        ("VIGIL_CORS_ORIGINS", "browser origins allowed to call the API, comma-separated (default none: CORS off)"),
        ("VIGIL_WEBHOOK_TIMEOUT / VIGIL_ADMIN_TIMEOUT", "answer 503 after this long (default 10s / 30s)"),
        ("VIGIL_WEBHOOK_MAX_AGE", "refuse webhooks dated earlier than this as replays (default 7d)"),
    ] + logVariables + [
        ("VIGIL_TASK_LEASE", "how long a running task is leased before another worker may retake it (default 60s)"),
        ("VIGIL_WORKER_CONCURRENCY", "tasks of each queue run at once per process (default 4)"),
    ]

    public static let database = "Environment:\n" + render(databaseVariables + logVariables)

    public static let all = "Environment (secrets may also be given as NAME_FILE, a file holding the value):\n"
        + render(serviceVariables)
        + "\nExit codes: 0 success, 1 runtime failure, 2 bad usage or configuration."

    static func render(_ entries: [(String, String)]) -> String {
        entries.map { name, meaning in "  \(name)\n" + wrap(meaning, indent: "      ", width: 76) }.joined()
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
