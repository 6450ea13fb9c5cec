import Foundation
import GRDB
import Synchronization
import VaultCore

/// ``StorageBackend`` on one SQLite file through GRDB: WAL journal (readers never wait for the
/// writer) and `synchronous = FULL`, so a write is on disk before it is acknowledged and
/// survives `kill -9` and power loss alike.
public final class SQLiteStorage: StorageBackend {
    public let kind = "sqlite"
    public let path: String
    private let pool: DatabasePool
    /// The database file's identity at open: a path that no longer names this file (deleted,
    /// or replaced by another) means every write would go to a file nobody will ever open again.
    private let identity: (device: UInt64, inode: UInt64)
    /// Set the first time SQLite reports the file damaged while running: from then on every
    /// write is refused (writing into a damaged b-tree spreads the damage) and health says why.
    private let damage = Mutex<String?>(nil)
    /// `PATH.lock`, held with `flock` for the storage's lifetime: one SQLite file has one server.
    private let lock: Int32
    private let checkpointer: Checkpointer
    private let groupCommit: GroupCommit

    /// Opens (creating if needed) the database at `path`. The file is created mode 0600.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.label = "vaultd"
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Checkpoints run beside the writers (``Checkpointer``); this is the backstop should
            // that fall behind: at 20,000 pages (80 MB of log) a commit checkpoints itself.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 20000")
        }
        // Created 0600 here rather than under a temporary umask(077): the umask is the whole
        // process's, and changing it races with every other thread creating files (a parallel
        // test run saw a child process inherit 077). SQLite gives the -wal and -shm files the
        // database file's mode.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor >= 0 { close(descriptor) }
        let lock = try Self.lockExclusively(path + ".lock", database: path)
        var opened = false
        defer { if !opened { close(lock) } }
        self.lock = lock
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS kv (
                        key   TEXT PRIMARY KEY NOT NULL,
                        value BLOB NOT NULL
                    ) WITHOUT ROWID
                    """)
            }
            checkpointer = try Checkpointer(path: path)
            groupCommit = GroupCommit(pool: pool)
        } catch {
            throw VaultError(.internalError, "cannot open the SQLite database at \(path): \(Self.describe(error))")
        }
        // A damaged file is reported, never served as if it were empty (its records would
        // answer "not found").
        let check: String
        do { check = try pool.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer" } } catch {
            throw VaultError(.internalError, "the SQLite database at \(path) cannot be checked: \(Self.describe(error)); restore it from a backup")
        }
        guard check == "ok" else {
            throw VaultError(.internalError, "the SQLite database at \(path) fails its integrity check (\(check.prefix(200))); restore it from a backup — vaultd will not serve it")
        }
        guard let identity = Self.identity(of: path) else {
            throw VaultError(.internalError, "the SQLite database at \(path) vanished while it was opened")
        }
        self.identity = identity
        opened = true
    }

    deinit { close(lock) }

    /// Two servers on one SQLite file would each cache what the other overwrites, and a token
    /// revoked through one would still open the other. The lock is a file beside the database,
    /// not the database itself: closing any descriptor of the database would drop SQLite's own
    /// POSIX locks. The kernel releases the `flock` when the holder exits, `kill -9` included.
    private static func lockExclusively(_ lockPath: String, database: String) throws -> Int32 {
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw VaultError(.internalError, "cannot open the lock file \(lockPath) beside the SQLite database: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw VaultError(.internalError, "the SQLite database at \(database) is in use by another vaultd\(holder.isEmpty ? "" : " (pid \(holder))"), which holds \(lockPath): one SQLite file serves one server; stop the other one, or give several nodes a shared storage \"postgresql\"")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return descriptor
    }

    private static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Why storage cannot be trusted now, or nil: the database file was deleted or replaced
    /// under the running vault.
    public var problem: String? {
        if let damage = damage.withLock({ $0 }) { return damage }
        guard let now = Self.identity(of: path) else {
            return "the database file \(path) was deleted while vaultd ran: writes are refused (they would be lost); restore the file and restart vaultd"
        }
        guard now == identity else {
            return "the database file \(path) was replaced by another file while vaultd ran: writes are refused; restart vaultd to open the file that is there now, or put the original back"
        }
        return nil
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await reportingDamage {
            try await pool.read { db in
                // Prepared once per connection: parsing the SQL cost more than running it.
                try Data.fetchOne(db.cachedStatement(sql: "SELECT value FROM kv WHERE key = ?"), arguments: [key]).map { Array($0) }
            }
        }
    }

    public func list(prefix: String) async throws -> [String] {
        try await reportingDamage {
            try await pool.read { db in
                try String.fetchAll(
                    db, sql: "SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                    arguments: [prefix, Self.upperBound(prefix)]
                )
            }
        }
    }

    /// One read transaction: SQLite's WAL gives it the database as of its first read, however
    /// many writes commit meanwhile.
    public func allRecords() async throws -> [StorageEntry] {
        try await reportingDamage {
            try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT key, value FROM kv ORDER BY key").map { row in
                    StorageEntry(key: row["key"], value: Array(row["value"] as Data))
                }
            }
        }
    }

    /// Runs `work`; SQLite's "damaged" answers become a 503 naming the file, and stick (see
    /// ``damage``). A record on a page that cannot be read is an error, never "not found".
    private func reportingDamage<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB {
            let reason = "the SQLite database at \(path) is damaged (\(Self.describe(error))): writes are refused; stop vaultd and restore the file from a backup"
            damage.withLock { if $0 == nil { $0 = reason } }
            throw VaultError(.storageUnavailable, reason)
        }
    }

    public func apply(_ operations: [StorageOperation]) async throws {
        // Checked before every write: a write into an unlinked file would be acknowledged and lost.
        if let problem { throw VaultError(.storageUnavailable, problem) }
        try await reportingDamage { try await write(operations) }
        checkpointer.noteCommit()
    }

    private func write(_ operations: [StorageOperation]) async throws {
        try await groupCommit.submit { db in
            for operation in operations {
                switch operation {
                case .put(let key, let value):
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)").execute(arguments: [key, Data(value)])
                case .delete(let key):
                    try db.cachedStatement(sql: "DELETE FROM kv WHERE key = ?").execute(arguments: [key])
                case .deletePrefix(let prefix):
                    try db.execute(sql: "DELETE FROM kv WHERE key >= ? AND key < ?", arguments: [prefix, Self.upperBound(prefix)])
                case .insertNew(let key, let value):
                    if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM kv WHERE key = ?"), arguments: [key]) == true {
                        throw StorageConflict(key: key)
                    }
                    try db.cachedStatement(sql: "INSERT INTO kv (key, value) VALUES (?, ?)").execute(arguments: [key, Data(value)])
                }
            }
        }
    }

    /// Copies every write still in the write-ahead log into the database file and empties the
    /// log. Called when vaultd stops, so the file alone holds everything acknowledged: a copy of
    /// the stopped server's `vault.db` is complete, and a check at the next start reads the
    /// pages that will be served rather than newer copies of them in the log.
    public func checkpoint() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }

    /// Gives up the one-server lock (`PATH.lock`) at the end of a stop, after ``checkpoint()``:
    /// from here on this process touches the file no more. Without it the lock lived until the
    /// last thread of the process was gone — later than a supervisor that sees the main thread
    /// exit may start the next vaultd, which then refused to start ("in use by another vaultd").
    public func releaseServerLock() {
        _ = flock(lock, LOCK_UN)
    }

    /// Runs SQLite's own consistency check; `"ok"` when the file is sound.
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }

    /// The smallest string greater than every string with `prefix`, for range scans.
    static func upperBound(_ prefix: String) -> String {
        prefix + "\u{10FFFF}"
    }

    private static func describe(_ error: Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return "\(error)"
    }
}
