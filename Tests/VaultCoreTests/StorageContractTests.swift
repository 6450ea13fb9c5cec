import Foundation
import TestSupport
import Testing
import VaultCore
import VaultStoragePostgres
import VaultStorageSQLite

/// What every ``StorageBackend`` promises, checked on each: SQLite and PostgreSQL (a real
/// server, see ``PostgresCluster``).
@Suite("storage contract")
struct StorageContractTests {
    /// `cachedSQLite` is what vaultd runs by default: SQLite behind its ``CachingStorage``.
    enum Kind: String, CaseIterable, Sendable { case sqlite, cachedSQLite, postgresql }

    /// A fresh, empty storage of `kind`, and what removes it.
    static func makeStorage(_ kind: Kind) async throws -> (any StorageBackend, () -> Void) {
        switch kind {
        case .sqlite, .cachedSQLite:
            let path = SQLiteStorageTests.temporaryPath()
            let file = try SQLiteStorage(path: path)
            return (kind == .sqlite ? file : CachingStorage(file), { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } })
        case .postgresql:
            let storage = try await PostgresStorageTests.storage(in: try await PostgresStorageTests.newDatabase())
            return (storage, {})
        }
    }

    @Test("put, get, list by prefix, delete, delete by prefix, insert-new conflicts; a failing transaction changes nothing", arguments: Kind.allCases)
    func operations(_ kind: Kind) async throws {
        let (storage, remove) = try await Self.makeStorage(kind)
        defer { remove() }
        try await storage.apply([.put("a/1", [1]), .put("a/2", [2]), .put("ab", [3]), .put("b/1", [4])])
        #expect(try await storage.get("a/1") == [1])
        #expect(try await storage.get("missing") == nil)
        #expect(try await storage.list(prefix: "a/") == ["a/1", "a/2"])
        #expect(try await storage.list(prefix: "a") == ["a/1", "a/2", "ab"])
        // Byte order, not a locale's: upper case before lower, "/" before letters.
        try await storage.apply([.put("Z", [5]), .put("a-", [6])])
        #expect(try await storage.list(prefix: "") == ["Z", "a-", "a/1", "a/2", "ab", "b/1"])
        try await storage.apply([.delete("Z"), .delete("a-")])

        await #expect(throws: StorageConflict.self) {
            try await storage.apply([.put("c", [9]), .insertNew("b/1", [5])])
        }
        #expect(try await storage.get("c") == nil)
        #expect(try await storage.get("b/1") == [4])

        try await storage.apply([.deletePrefix("a/")])
        #expect(try await storage.list(prefix: "") == ["ab", "b/1"])
        try await storage.delete("ab")
        #expect(try await storage.list(prefix: "") == ["b/1"])

        // Every byte value survives, and an empty value is a value.
        let bytes = (0...255).map { UInt8($0) }
        try await storage.apply([.put("bytes", bytes), .put("empty", [])])
        #expect(try await storage.get("bytes") == bytes)
        #expect(try await storage.get("empty") == [])
    }

    @Test("two vault inits at once: exactly one commits, the other changes nothing", arguments: Kind.allCases)
    func concurrentInitialization(_ kind: Kind) async throws {
        let (storage, remove) = try await Self.makeStorage(kind)
        defer { remove() }
        let results = await withTaskGroup(of: Bool.self) { group in
            for node in 0..<4 {
                group.addTask {
                    do {
                        try await storage.applyInitialization([.put("core/system-key", [UInt8(node)]), .insertNew("core/seal-config", [UInt8(node)])])
                        return true
                    } catch { return false }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        let winner = try #require(try await storage.get("core/seal-config"))
        #expect(try await storage.get("core/system-key") == winner, "the losers' puts were rolled back with their insert")
    }

    @Test("allRecords is one consistent view: writes committed while it reads are all in it or all out, and a replace-all restore is one transaction", arguments: Kind.allCases)
    func consistentView(_ kind: Kind) async throws {
        let (storage, remove) = try await Self.makeStorage(kind)
        defer { remove() }
        try await storage.apply((0..<200).map { .put(String(format: "k/%04d", $0), [0]) })
        // A writer flips every record's generation in one transaction, again and again; a view
        // that mixed two transactions would see two generations.
        let writer = Task {
            for generation in 1...15 { try await storage.apply((0..<200).map { .put(String(format: "k/%04d", $0), [UInt8(generation)]) }) }
        }
        for _ in 0..<15 {
            let records = try await storage.allRecords()
            #expect(records.count == 200)
            #expect(Set(records.map(\.value)).count == 1, "a view mixed generations \(Set(records.map(\.value)))")
            #expect(records.map(\.key) == records.map(\.key).sorted())
        }
        try await writer.value
        try await storage.apply([.deletePrefix("")] + [.put("only", [7])])
        #expect(try await storage.allRecords() == [StorageEntry(key: "only", value: [7])])
    }
}
