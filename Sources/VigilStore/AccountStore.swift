import Foundation

/// The console's people: users (with bcrypt password hashes) and their signed-in browsers.
public protocol AccountStore: Sendable {
    /// Creates a user; false, writing nothing, when the name is taken.
    func addUser(_ user: UserRecord) async throws -> Bool
    func user(named name: String) async throws -> UserRecord?
    func users() async throws -> [UserRecord]
    /// Replaces a user's password hash (and enables them again); ends their console sessions.
    /// False when there is no such user.
    func setPassword(user name: String, hash: String, at: Date) async throws -> Bool
    /// Disables a user and ends their console sessions; false when there is no such user.
    func disableUser(_ name: String, at: Date) async throws -> Bool

    func createConsoleSession(tokenHash: String, user: String, csrfToken: String, at: Date, expiresAt: Date) async throws
    /// The browser's session, if it exists, has not expired, and its user is enabled.
    func consoleSession(tokenHash: String, now: Date) async throws -> ConsoleSession?
    func endConsoleSession(tokenHash: String) async throws
    /// Refused sign-ins since `since`, for this user name and for this address.
    func failedSignIns(user: String, ip: String?, since: Date) async throws -> (user: Int, ip: Int)
}
