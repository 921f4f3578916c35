import Foundation
import VigilCore
import VigilStore

/// `vigil users`: console accounts from the command line. Each returns the line to print, or
/// throws `UserAdminError` with what to do instead.
public enum UserAdmin {
    public static func add(_ store: any Store, name: String, role: UserRole, password: String, now: Date) async throws -> String {
        if let problem = ConsoleAuth.checkName(name) { throw UserAdminError(problem) }
        if let problem = ConsoleAuth.checkPassword(password) { throw UserAdminError(problem) }
        let hash = try await ConsoleAuth.passwordHash(password)
        guard try await store.addUser(UserRecord(name: name, passwordHash: hash, role: role, disabledAt: nil, createdAt: now)) else {
            throw UserAdminError("user '\(name)' exists; change the password with vigil users passwd \(name)")
        }
        try await audit(store, "user.add", name, outcome: role.rawValue, now: now)
        return "added \(role.rawValue) '\(name)'"
    }

    public static func list(_ store: any Store) async throws -> String {
        let users = try await store.users()
        guard !users.isEmpty else { return "no users; add one with vigil users add NAME --role operator" }
        return users.map { "\($0.name)\t\($0.role.rawValue)\t\($0.disabledAt == nil ? "active" : "disabled")" }.joined(separator: "\n")
    }

    public static func disable(_ store: any Store, name: String, now: Date) async throws -> String {
        guard try await store.disableUser(name, at: now) else { throw UserAdminError("no user '\(name)'; see vigil users list") }
        try await audit(store, "user.disable", name, outcome: "ok", now: now)
        return "disabled '\(name)' and ended their sessions"
    }

    public static func passwd(_ store: any Store, name: String, password: String, now: Date) async throws -> String {
        if let problem = ConsoleAuth.checkPassword(password) { throw UserAdminError(problem) }
        let hash = try await ConsoleAuth.passwordHash(password)
        guard try await store.setPassword(user: name, hash: hash, at: now) else { throw UserAdminError("no user '\(name)'; see vigil users list") }
        try await audit(store, "user.passwd", name, outcome: "ok", now: now)
        return "changed the password of '\(name)' (enabled again; their sessions ended)"
    }

    /// The command line is an actor too: its changes are in the audit log.
    private static func audit(_ store: any Store, _ action: String, _ name: String, outcome: String, now: Date) async throws {
        let entry = AuditRecord(at: now, actor: "cli", action: action, target: name, outcome: outcome, ip: nil, userAgent: nil, requestId: nil)
        try await store.write { tx in try await tx.appendAudit(entry) }
    }
}

public struct UserAdminError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
