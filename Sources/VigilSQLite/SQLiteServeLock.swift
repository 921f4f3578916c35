import Foundation
import VigilStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `vigil serve` per SQLite file. SQLite itself would let a second process in (WAL allows
/// it), and two schedulers on one file would each wait out the other's leases; holding this lock
/// instead lets the one process that owns the file take back, at start, whatever was running
/// when its predecessor died (`SQLStore.reclaimRunningTasks`). The lock is an advisory `flock`
/// on `<database>.serve-lock`, released by the kernel when the process ends, however it ends.
public final class SQLiteServeLock: Sendable {
    private let descriptor: Int32
    public let path: String

    /// Takes the lock, or fails at once naming the process that holds it.
    public init(databasePath: String) throws {
        path = databasePath + ".serve-lock"
        // The database's folder may not exist yet (the store creates it too).
        let folder = URL(fileURLWithPath: databasePath).deletingLastPathComponent().path
        if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError("cannot open \(path) to lock the database: \(String(cString: strerror(errno))); check the folder's permissions")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            let holder = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            throw StoreError("another vigil serve (pid \(holder)) is using \(databasePath); stop it first, or give this one its own VIGIL_DATABASE_URL (SQLite serves one process; use PostgreSQL for several)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    deinit {
        close(descriptor)
    }
}
