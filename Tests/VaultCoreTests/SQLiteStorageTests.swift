import Foundation
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
