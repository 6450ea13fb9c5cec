import Foundation
import TestSupport
import Testing
import VaultCore
import VaultStorageSQLite

@Suite("SQLite storage")
struct SQLiteStorageTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("storage-\(UUID().uuidString).db").path
    }

    @Test("the file is private to its owner and passes SQLite's own check after writes (the operations: StorageContractTests)")
    func fileAndIntegrity() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let storage = try SQLiteStorage(path: path)
        try await storage.apply([.put("a/1", [1]), .put("b/1", [4])])
        try await storage.apply([.deletePrefix("a/")])
        #expect(try storage.integrityCheck() == "ok")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("group commit under a flood: 32 writers × 40 transactions at once, a third failing their insert-new; each commits or fails alone, atomically")
    func groupCommitFlood() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let storage = try SQLiteStorage(path: path)
        try await storage.apply([.put("taken", [0])])
        // What each transaction's apply answered: committed, or refused by its insert-new.
        let answers = try await withThrowingTaskGroup(of: [String: Bool].self) { group in
            for writer in 0..<32 {
                group.addTask {
                    var answers = [String: Bool]()
                    for round in 0..<40 {
                        let key = "w\(writer)/\(round)"
                        // Every third transaction ends in an insert-new of a key that exists.
                        let conflicting = (writer + round) % 3 == 0
                        do {
                            try await storage.apply([.put(key, [UInt8(writer), UInt8(round)]), .put(key + "/twin", [1]),
                                                     .insertNew(conflicting ? "taken" : key + "/new", [2])])
                            answers[key] = true
                        } catch is StorageConflict {
                            answers[key] = false
                        }
                    }
                    return answers
                }
            }
            return try await group.reduce(into: [String: Bool]()) { $0.merge($1) { first, _ in first } }
        }
        #expect(answers.count == 32 * 40)
        for writer in 0..<32 {
            for round in 0..<40 {
                let key = "w\(writer)/\(round)"
                let committed = (writer + round) % 3 != 0
                #expect(answers[key] == committed, "\(key) answered \(String(describing: answers[key]))")
                #expect(try await storage.get(key) == (committed ? [UInt8(writer), UInt8(round)] : nil), "\(key)")
                #expect(try await storage.get(key + "/twin") == (committed ? [1] : nil), "\(key)/twin")
                #expect(try await storage.get(key + "/new") == (committed ? [2] : nil), "\(key)/new")
            }
        }
        #expect(try storage.integrityCheck() == "ok")
    }

    @Test("checkpoints run beside the writers: committed pages reach the database file without waiting for the log's 4,000-page threshold")
    func checkpointsBesideWriters() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let storage = try SQLiteStorage(path: path)
        func size(_ file: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0 }
        let before = size(path)
        let value = [UInt8](repeating: 7, count: 200)
        for index in 0..<800 { try await storage.apply([.put("vaults/v/secrets/\(UUID().uuidString)-\(index)", value)]) }
        // 800 commits are far fewer pages than the threshold: only the checkpointer copies them.
        let deadline = ContinuousClock.now + TestEnvironment.hangGuard
        while size(path) <= before + 150_000, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(size(path) > before + 150_000, "the database file stayed at \(size(path)) bytes (log: \(size(path + "-wal")))")
        #expect(try storage.integrityCheck() == "ok")
    }

    @Test("a file that is not a database is a clear error")
    func notADatabase() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: VaultError.self) { _ = try SQLiteStorage(path: path) }
        #expect(error?.message.contains(path) == true)
    }

    @Test("a second server on the same file is refused, naming the holder; the file is free again once the first closes")
    func oneServerPerFile() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var first: SQLiteStorage? = try SQLiteStorage(path: path)
        try await first?.put("k", [1])
        let error = #expect(throws: VaultError.self) { _ = try SQLiteStorage(path: path) }
        #expect(error?.message.contains("in use by another vaultd (pid \(getpid()))") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("postgresql") == true)
        #expect(try await first?.get("k") == [1], "the refused open changed nothing")
        first = nil
        let second = try SQLiteStorage(path: path)
        #expect(try await second.get("k") == [1])
    }

    @Test("a stopping server gives the file up at its checkpoint, while its process still runs: the next one opens it and finds every write")
    func lockReleasedAtStop() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let stopping = try SQLiteStorage(path: path)
        try await stopping.put("k", [7])
        #expect(throws: VaultError.self) { _ = try SQLiteStorage(path: path) }
        // What vaultd does last when it stops (VaultServerRunner): the log into the file, then the lock.
        try stopping.checkpoint()
        stopping.releaseServerLock()
        let next = try SQLiteStorage(path: path)
        #expect(try await next.get("k") == [7])
        // The next server holds the file now; the stopped one's object going away changes nothing.
        #expect(throws: VaultError.self) { _ = try SQLiteStorage(path: path) }
        withExtendedLifetime(stopping) {}
    }
}
