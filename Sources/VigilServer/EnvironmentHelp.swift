/// Help text listing the environment variables, shown by `vigil --help` and each command.
public enum EnvironmentHelp {
    public static let database = """
        Environment:
          VIGIL_DATABASE_URL           sqlite://PATH (default sqlite://vigil-data/vigil.sqlite) or postgres://USER:PASS@HOST:PORT/DB?sslmode=...
          VIGIL_DB_POOL_MAX            PostgreSQL pool size (default 20)
          VIGIL_DB_CONNECT_TIMEOUT     PostgreSQL connect timeout (default 10s)
          VIGIL_DB_QUERY_TIMEOUT       longest wait for one PostgreSQL statement (default 30s)
          VIGIL_DB_IDLE_TIMEOUT        close pooled PostgreSQL connections idle this long (default 60s)
          VIGIL_LOG_FORMAT             text | json (default text in development, json in production)
          VIGIL_LOG_LEVEL              trace | debug | info | notice | warning | error | critical (default info)
        """

    public static let all = """
        Environment (secrets may also be given as NAME_FILE, a path to a file holding the value):
          VIGIL_ENV                    development | production (default development)
          VIGIL_HOST / VIGIL_PORT      listen address (default 127.0.0.1 / 8080)
          VIGIL_DATABASE_URL           sqlite://PATH (default sqlite://vigil-data/vigil.sqlite) or postgres://USER:PASS@HOST:PORT/DB?sslmode=...
          VIGIL_DB_POOL_MAX            PostgreSQL pool size (default 20)
          VIGIL_DB_CONNECT_TIMEOUT     PostgreSQL connect timeout (default 10s)
          VIGIL_DB_QUERY_TIMEOUT       longest wait for one PostgreSQL statement (default 30s)
          VIGIL_DB_IDLE_TIMEOUT        close pooled PostgreSQL connections idle this long (default 60s)
          VIGIL_PROVIDERS              sandbox | live (default sandbox); SAFE_MODE=true means sandbox
          VIGIL_VERIFICATION_DEADLINE  time the customer has to verify (default 72h)
          VIGIL_REMINDER_AFTER         reminder email if still pending (default 24h)
          VIGIL_LIGHTSPEED_WEBHOOK_SECRET  HMAC secret(s) for order webhooks, comma-separated for rotation
          VIGIL_VERIFF_SHARED_SECRET   HMAC secret(s) for decision webhooks, comma-separated for rotation
          VIGIL_VERIFF_API_KEY, VIGIL_VERIFF_BASE_URL            ID provider
          VIGIL_SENDGRID_API_KEY, VIGIL_SENDGRID_BASE_URL, VIGIL_EMAIL_FROM   email
          VIGIL_PAYMENTS_GATEWAY, VIGIL_PAYMENTS_API_KEY, VIGIL_PAYMENTS_BASE_URL   refunds (stripe | authorizenet)
          VIGIL_LIGHTSPEED_API_TOKEN, VIGIL_LIGHTSPEED_BASE_URL  order updates
          VIGIL_ADMIN_TOKEN            bearer token(s) for the admin API, comma-separated for rotation
          VIGIL_CORS_ORIGINS           browser origins allowed to call the API, comma-separated (default none: CORS off)
          VIGIL_WEBHOOK_TIMEOUT / VIGIL_ADMIN_TIMEOUT  answer 503 after this long (default 10s / 30s)
          VIGIL_WEBHOOK_MAX_AGE        refuse webhooks dated earlier than this as replays (default 7d)
          VIGIL_LOG_FORMAT             text | json (default text in development, json in production)
          VIGIL_LOG_LEVEL              trace | debug | info | notice | warning | error | critical (default info)
          VIGIL_TASK_LEASE             how long a running task is leased before another worker may retake it (default 60s)
          VIGIL_WORKER_CONCURRENCY     tasks of each queue run at once per process (default 4)

        Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
        """
}
