import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import NIOPosix
import VigilCore
import VigilStore

/// Console sign-in: bcrypt-checked passwords, a session cookie whose token the database keeps
/// only as a SHA-256, a CSRF token per session, and refused sign-ins limited per account and
/// per address (counted from the audit log, so every instance sees the same count).
struct ConsoleAuth: Sendable {
    let services: AppServices

    static let cookieName = "vigil_console"
    /// Refused sign-ins allowed in `lockoutWindow` before further attempts are refused unchecked.
    static let maxFailuresPerUser = 5
    static let maxFailuresPerAddress = 20
    static let lockoutWindow: TimeInterval = 15 * 60
    /// Checked when the name is unknown, so an unknown name takes as long as a wrong password.
    static let decoyHash = Bcrypt.hash(newToken(), cost: 12)

    enum SignIn {
        case signedIn(token: String, session: ConsoleSession)
        case refused
        case limited
    }

    /// The request's console session, if its cookie names a live one.
    func session(_ request: Request) async throws -> ConsoleSession? {
        guard let token = request.cookies[Self.cookieName]?.value, (32...128).contains(token.utf8.count) else { return nil }
        return try await services.store.consoleSession(tokenHash: Self.hash(token), now: services.clock.now())
    }

    func signIn(name: String, password: String, request: Request, context: VigilRequestContext) async throws -> SignIn {
        let store = services.store, now = services.clock.now()
        let auditor = Auditor(store: store, clock: services.clock)
        let target = String(name.prefix(64))
        let failures = try await store.failedSignIns(user: target, ip: context.remoteAddress, since: now.addingTimeInterval(-Self.lockoutWindow))
        if failures.user >= Self.maxFailuresPerUser || failures.ip >= Self.maxFailuresPerAddress {
            await auditor.record("console.sign_in", actor: "anonymous", target: target, outcome: "rejected:rate_limited",
                                 request: request, context: context)
            return .limited
        }
        let user = try await store.user(named: name)
        let hash = user?.passwordHash ?? Self.decoyHash
        let matches = try await Self.passwordThreads.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard let user, matches, user.disabledAt == nil else {
            await auditor.record("console.sign_in", actor: "anonymous", target: target, outcome: "rejected:bad_credentials",
                                 request: request, context: context)
            return .refused
        }
        let token = Self.newToken(), csrf = Self.newToken()
        let expires = now.addingTimeInterval(services.config.consoleSessionTTL)
        try await store.createConsoleSession(tokenHash: Self.hash(token), user: user.name, csrfToken: csrf, at: now, expiresAt: expires)
        await auditor.record("console.sign_in", actor: "user:" + user.name, target: target, outcome: "ok", request: request, context: context)
        return .signedIn(token: token, session: ConsoleSession(user: user, csrfToken: csrf, expiresAt: expires))
    }

    func signOut(_ request: Request) async throws {
        guard let token = request.cookies[Self.cookieName]?.value, token.utf8.count <= 128 else { return }
        try await services.store.endConsoleSession(tokenHash: Self.hash(token))
    }

    /// The session cookie: not readable by scripts, never sent cross-site, HTTPS-only outside
    /// development (where Vigil is reached over plain HTTP on loopback).
    func cookie(token: String, expires: Date?) -> Cookie {
        Cookie(name: Self.cookieName, value: token, expires: expires, maxAge: expires == nil ? 0 : nil, path: "/",
               secure: services.config.environment != .development, httpOnly: true, sameSite: .strict)
    }

    /// bcrypt's own thread: a password check is a quarter of a second of CPU by design, and on the
    /// shared pool (SQLite's file I/O runs there) a burst of sign-ins would stall every webhook.
    /// One thread: concurrent checks queue, and refused sign-ins are limited anyway.
    static let passwordThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)))
    }

    /// A password as stored: bcrypt at cost 12.
    static func passwordHash(_ password: String) async throws -> String {
        try await passwordThreads.runIfActive { Bcrypt.hash(password, cost: 12) }
    }

    /// Passwords people can remember but not guess in a lockout window.
    static func checkPassword(_ password: String) -> String? {
        if password.count < 12 { return "a password needs at least 12 characters" }
        if password.utf8.count > 72 { return "bcrypt uses at most 72 bytes of a password; choose a shorter one" }
        return nil
    }

    /// A user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
    static func checkName(_ name: String) -> String? {
        let allowed = name.unicodeScalars.allSatisfy { ($0.isASCII && (CharacterSet.alphanumerics.contains($0))) || "._-@".unicodeScalars.contains($0) }
        return (1...64).contains(name.utf8.count) && allowed ? nil : "a user name is 1 to 64 ASCII letters, digits, '.', '_', '-' or '@'"
    }
}
