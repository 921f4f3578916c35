import ArgumentParser
import Foundation
import Logging
import VigilCore
import VigilServer
import VigilSQLite
import VigilStore

/// `vigil`: the command line. Configuration comes from the environment (see `vigil --help`).
@main
struct VigilCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Post-purchase ID and age verification: order webhooks, verification sessions, reminders, deadlines and refunds.",
        discussion: EnvironmentHelp.all,
        version: VigilVersion.current,
        subcommands: [Serve.self, Migrate.self, SelfTestCommand.self, Events.self, PolicyCommand.self, Users.self, Backup.self, Erase.self, Export.self, Reencrypt.self])

    /// Exit codes per the contract: 0 success, 1 runtime failure, 2 bad usage or configuration.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigError {
            fail("vigil: \(error)", code: 2)
        } catch let error as StoreError {
            fail("vigil: \(error)", code: 1)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            if code == .validationFailure {
                fail(message, code: 2)
            }
            fail("vigil: \(message.isEmpty ? "\(error)" : message)", code: 1)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        Foundation.exit(code)
    }
}

/// Loads configuration and logging the same way for every command.
enum Setup {
    static func config() throws -> VigilConfig {
        try VigilConfig.load(environment: ProcessInfo.processInfo.environment)
    }

    static func logger(_ config: VigilConfig, label: String = "vigil") -> Logger {
        VigilLogging.bootstrap(format: config.logFormat, level: config.logLevel)
        var logger = Logger(label: label)
        logger.logLevel = config.logLevel
        return logger
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP server and the task workers; migrates the schema first.",
        discussion: EnvironmentHelp.all)

    func run() async throws {
        let config = try Setup.config()
        try await VigilRuntime.serve(config, logger: Setup.logger(config))
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending schema migrations (in one transaction).",
        discussion: EnvironmentHelp.database)

    @Flag(help: "Apply nothing; exit 1 if any migration is pending (for deploy pipelines).")
    var check = false

    func run() async throws {
        let config = try Setup.config()
        let logger = Setup.logger(config)
        let check = self.check
        try await VigilRuntime.withRunningStore(config, logger: logger) { store in
            try await Self.migrate(store, check: check)
        }
    }

    static func migrate(_ store: any Store, check: Bool) async throws {
        if check {
            let status = try await store.migrationStatus()
            if !status.unknown.isEmpty {
                print("database has schema version(s) \(status.unknown) unknown to this vigil")
                throw ExitCode(1)
            }
            if status.pending.isEmpty {
                print("schema up to date (version \(status.applied.max() ?? 0))")
                return
            }
            for m in status.pending { print("pending: \(m.version) \(m.name)") }
            throw ExitCode(1)
        }
        let applied = try await store.migrate()
        print(applied.isEmpty ? "schema already up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct SelfTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Run the /__selftest checks and print them; exit 0 only if nothing critical failed.",
        discussion: EnvironmentHelp.all)

    func run() async throws {
        let config = try Setup.config()
        let logger = Setup.logger(config)
        let clock = SystemClock()
        let report = try await VigilRuntime.withRunningStore(config, logger: logger) { store in
            try await VigilRuntime.withProviders(config, store: store, clock: clock, logger: logger) { providers in
                await SelfTest.run(config: config, store: store, providers: providers, clock: clock, localScheduler: nil)
            }
        }
        for key in report.results.keys.sorted() {
            let detail = report.details[key].map { "  (\($0))" } ?? ""
            print("\(key.padding(toLength: 11, withPad: " ", startingAt: 0)) \(report.results[key] ?? "")\(detail)")
        }
        for warning in report.warnings { print("warning: \(warning)") }
        if report.criticalFailure { throw ExitCode(1) }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the event log.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the event log as NDJSON to stdout, in time order.",
            discussion: """
                Each line: {"id":N,"orderId":"...","type":"...","at":"RFC 3339 UTC","data":{...}}.
                TIME is RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01), or a duration meaning that long ago (24h).

                \(EnvironmentHelp.database)
                """)

        @Option(help: "Only events at or after TIME.", transform: EventTime.parse)
        var since: Date?

        @Option(help: "Only events before TIME.", transform: EventTime.parse)
        var until: Date?

        func run() async throws {
            let config = try Setup.config()
            let logger = Setup.logger(config)
            let (since, until) = (self.since, self.until)
            try await VigilRuntime.withRunningStore(config, logger: logger) { store in
                let out = FileHandle.standardOutput
                try await EventExport.forEachPage(store, since: since, until: until) { out.write(Data($0.utf8)) }
            }
        }
    }
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with the age policy file.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file; exit 2 with one line naming the bad entry.",
            discussion: "The format is described in the README (Age policy) and in docs/policy.example.yaml.")

        @Argument(help: "The policy file (YAML).")
        var file: String

        func run() async throws {
            do {
                let policy = try PolicyFile.load(path: file)
                print("\(file): ok — \(PolicyFile.summary(policy))")
            } catch {
                VigilCommand.fail("vigil: \(file): \(error)", code: 2)
            }
        }
    }
}

enum EventTime {
    static func parse(_ text: String) throws -> Date {
        guard let date = EventExport.time(text, now: Date()) else {
            throw ValidationError("'\(text)' is not a time; \(EventExport.timeHelp)")
        }
        return date
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the console's users (viewer: reads; operator: also acts on orders).",
        subcommands: [Add.self, List.self, Disable.self, Passwd.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; asks for the password, or reads it from stdin.")
        @Argument(help: "User name: 1 to 64 letters, digits, '.', '_', '-' or '@'.") var name: String
        @Option(help: "viewer or operator.") var role: String = "viewer"
        @Flag(help: "Read the password from the first line of stdin (for scripts).") var passwordStdin = false

        func run() async throws {
            guard let role = UserRole(rawValue: role) else {
                throw ValidationError("--role must be viewer or operator")
            }
            let password = try Password.read(fromStdin: passwordStdin)
            let name = self.name
            print(try await UsersCommand.run { store, now in try await UserAdmin.add(store, name: name, role: role, password: password, now: now) })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users: name, role, active or disabled.")
        func run() async throws {
            print(try await UsersCommand.run { store, _ in try await UserAdmin.list(store) })
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user and end their sessions.")
        @Argument var name: String
        func run() async throws {
            let name = self.name
            print(try await UsersCommand.run { store, now in try await UserAdmin.disable(store, name: name, now: now) })
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password (enables them again; ends their sessions).")
        @Argument var name: String
        @Flag(help: "Read the password from the first line of stdin.") var passwordStdin = false
        func run() async throws {
            let password = try Password.read(fromStdin: passwordStdin)
            let name = self.name
            print(try await UsersCommand.run { store, now in try await UserAdmin.passwd(store, name: name, password: password, now: now) })
        }
    }
}

enum UsersCommand {
    /// Runs against the configured database; in development a fresh database is migrated first
    /// (as `vigil serve` would), in production the schema must be current (`vigil migrate`).
    static func run(_ body: @escaping @Sendable (any Store, Date) async throws -> String) async throws -> String {
        let config = try Setup.config()
        let logger = Setup.logger(config)
        let development = config.environment == .development
        do {
            return try await VigilRuntime.withRunningStore(config, logger: logger) { store in
                if try await !store.migrationStatus().pending.isEmpty {
                    guard development else { throw UserAdminError("the schema is not current; run vigil migrate first") }
                    _ = try await store.migrate()
                }
                return try await body(store, Date())
            }
        } catch let error as UserAdminError {
            VigilCommand.fail("vigil users: \(error)", code: 1)
        }
    }
}

enum Password {
    static func read(fromStdin: Bool) throws -> String {
        var line: String?
        if fromStdin {
            line = readLine(strippingNewline: true)
        } else if isatty(STDIN_FILENO) != 0, let typed = getpass("Password: ") {
            line = String(cString: typed)
        } else {
            throw ValidationError("give the password on stdin with --password-stdin")
        }
        guard let password = line, !password.isEmpty else { throw ValidationError("no password given") }
        return password
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the SQLite database to PATH, online and consistent (vigil serve may keep running).",
        discussion: """
            Restore: stop vigil serve, move the copy into the database's place (removing the old file's -wal and -shm), start it.
            Timers already due run at once; nothing is sent twice, because each call's idempotency key comes from its task.
            PostgreSQL: use pg_dump or point-in-time recovery (docs/RELIABILITY.md, Backups).
            """)

    @Argument(help: "The new file to write; never overwritten.") var path: String

    func run() async throws {
        let config = try Setup.config()
        guard case .sqlite = config.database else {
            throw ConfigError("VIGIL_DATABASE_URL", "vigil backup copies the SQLite database; back PostgreSQL up with pg_dump or point-in-time recovery (docs/RELIABILITY.md)")
        }
        let logger = Setup.logger(config)
        let path = self.path
        try await VigilRuntime.withRunningStore(config, logger: logger) { store in
            guard let sqlite = store as? SQLiteStore else { return }
            try await sqlite.backup(to: path)
        }
        print("backed up to \(path)")
    }
}

struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase the personal data of decided orders, by order id or by customer email; prints what was done as JSON.",
        discussion: "Pending orders are listed and left (decide or cancel them first). Idempotent; audited as cli.")
    @Option(name: .customLong("order"), help: "An order id (repeatable).") var orders: [String] = []
    @Option(help: "Every order of this customer.") var email: String?

    func run() async throws {
        guard !orders.isEmpty || email != nil else { throw ValidationError("give --order ID or --email ADDRESS") }
        let config = try Setup.config()
        let (orders, email) = (self.orders, self.email)
        let text = try await VigilRuntime.withRunningStore(config, logger: Setup.logger(config)) { store in
            try await CustomerDataCommand.erase(store, config: config, orderIds: orders, email: email, at: Date())
        }
        print(text)
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print as JSON everything held about a customer's orders, by email (audited as cli).")
    @Option(help: "The customer's email.") var email: String

    func run() async throws {
        let config = try Setup.config()
        let email = self.email
        let text = try await VigilRuntime.withRunningStore(config, logger: Setup.logger(config)) { store in
            try await CustomerDataCommand.export(store, config: config, email: email, at: Date())
        }
        print(text)
    }
}

struct Reencrypt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reseal customers' personal data under the current encryption key; prints what it rewrote as JSON.",
        discussion: """
            Key rotation: set VIGIL_ENCRYPTION_KEY to the new key and VIGIL_ENCRYPTION_KEY_PREVIOUS to the old one, \
            restart every instance, run vigil reencrypt, then drop the old key. Safe beside running instances \
            (a batch of rows at a time, locked while rewritten) and idempotent. Audited as cli.
            """)

    func run() async throws {
        let config = try Setup.config()
        let text = try await VigilRuntime.withRunningStore(config, logger: Setup.logger(config)) { store in
            try await CustomerDataCommand.reencrypt(store, config: config, at: Date())
        }
        print(text)
    }
}
