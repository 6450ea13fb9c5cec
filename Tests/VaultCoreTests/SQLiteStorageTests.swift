import Foundation
import Testing
import VaultCore
import VaultStorageSQLite

@Suite("SQLite storage")
struct SQLiteStorageTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("storage-\(UUID().uuidString).db").path
    }

    @Test("put, get, list by prefix, delete, delete by prefix, insert-new conflicts; all atomic")
    func operations() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let storage = try SQLiteStorage(path: path)
        try await storage.apply([.put("a/1", [1]), .put("a/2", [2]), .put("ab", [3]), .put("b/1", [4])])
        #expect(try await storage.get("a/1") == [1])
        #expect(try await storage.get("missing") == nil)
        #expect(try await storage.list(prefix: "a/") == ["a/1", "a/2"])
        #expect(try await storage.list(prefix: "a") == ["a/1", "a/2", "ab"])

        // A failing transaction changes nothing.
        await #expect(throws: StorageConflict.self) {
            try await storage.apply([.put("c", [9]), .insertNew("b/1", [5])])
        }
        #expect(try await storage.get("c") == nil)
        #expect(try await storage.get("b/1") == [4])

        try await storage.apply([.deletePrefix("a/")])
        #expect(try await storage.list(prefix: "") == ["ab", "b/1"])
        try await storage.delete("ab")
        #expect(try await storage.list(prefix: "") == ["b/1"])
        #expect(try storage.integrityCheck() == "ok")

        // The file is private to its owner.
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
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
}
