import Foundation
import VigilStore

extension SQLStore where Driver == SQLiteDriver {
    /// An online, consistent copy of the database at `destination` (SQLite's `VACUUM INTO`: one
    /// read transaction, so writers go on and the copy is one point in time). Restore by stopping
    /// `vigil serve` and putting the copy in the database's place.
    public func backup(to destination: String) async throws {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw StoreError("\(destination) exists; give a new file name (a backup never overwrites)")
        }
        // Its own connection: VACUUM cannot run in the writer's transactions, and the reader is query-only.
        let handle = try await SQLiteHandle.open(path: driver.path)
        do {
            _ = try await handle.query("PRAGMA busy_timeout = 10000")
            _ = try await handle.query("VACUUM INTO ?", [.text(destination)])
            await handle.close()
        } catch {
            await handle.close()
            throw StoreError("backup to \(destination) failed: \(error)")
        }
    }
}
