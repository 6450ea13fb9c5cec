import Testing
import VaultCore
import VaultCoreTestSupport

/// ``CachingStorage``: a hit skips the backend, every write invalidates what it touches, a read
/// that overlapped a write never puts the old value back, and the bounds hold. (The storage
/// contract runs on it too: `StorageContractTests`, kind `cachedSQLite`.)
@Suite("storage cache")
struct CachingStorageTests {
    /// A backend that counts reads and can hold one read after it has read its value, until
    /// the test lets it go: the window in which a write may land.
    actor GatedStorage: StorageBackend {
        let inner = MemoryStorage()
        nonisolated let kind = "gated"
        private(set) var reads = 0
        private var gate: (key: String, held: CheckedContinuation<Void, Never>?, reached: CheckedContinuation<Void, Never>?)?

        func get(_ key: String) async throws -> [UInt8]? {
            reads += 1
            let value = await inner.get(key)
            if var gate, gate.key == key {
                await withCheckedContinuation { continuation in
                    gate.held = continuation
                    self.gate = gate
                    gate.reached?.resume()
                }
            }
            return value
        }

        /// The next read of `key` stops after reading; returns once it has.
        func hold(_ key: String) { gate = (key, nil, nil) }
        func waitUntilHeld() async {
            if gate?.held != nil { return }
            await withCheckedContinuation { continuation in gate?.reached = continuation }
        }
        func release() {
            gate?.held?.resume()
            gate = nil
        }

        func list(prefix: String) async throws -> [String] { await inner.list(prefix: prefix) }
        func allRecords() async throws -> [StorageEntry] { await inner.allRecords() }
        func apply(_ operations: [StorageOperation]) async throws { try await inner.apply(operations) }
    }

    @Test("a second read is a hit: the backend is read once; a miss is not cached")
    func hits() async throws {
        let backend = GatedStorage()
        let cache = CachingStorage(backend)
        try await cache.apply([.put("vaults/a/secrets/1", [1, 2, 3])])
        for _ in 0..<5 { #expect(try await cache.get("vaults/a/secrets/1") == [1, 2, 3]) }
        #expect(await backend.reads == 1)
        #expect(cache.statistics == .init(hits: 4, misses: 1))
        for _ in 0..<3 { #expect(try await cache.get("absent") == nil) }
        #expect(await backend.reads == 4, "absent keys are read from the backend every time")
    }

    @Test("put, delete, delete by prefix and a failed transaction each invalidate the keys they touch")
    func invalidation() async throws {
        let cache = CachingStorage(MemoryStorage())
        try await cache.apply([.put("a/1", [1]), .put("a/2", [2]), .put("b", [3])])
        for key in ["a/1", "a/2", "b"] { _ = try await cache.get(key) }
        #expect(cache.size.entries == 3)

        try await cache.put("a/1", [10])
        #expect(try await cache.get("a/1") == [10])
        try await cache.delete("b")
        #expect(try await cache.get("b") == nil)
        try await cache.apply([.deletePrefix("a/")])
        #expect(try await cache.get("a/1") == nil)
        #expect(try await cache.get("a/2") == nil)

        // The transaction fails on its insert-new; its put did not land, and the cache says so.
        try await cache.apply([.put("c", [1]), .put("d", [4])])
        _ = try await cache.get("c")
        await #expect(throws: StorageConflict.self) { try await cache.apply([.put("c", [2]), .insertNew("d", [5])]) }
        #expect(try await cache.get("c") == [1])
        #expect(try await cache.get("d") == [4])
    }

    @Test("a read that overlapped a write does not put the old value back")
    func readOverlappingWrite() async throws {
        let backend = GatedStorage()
        let cache = CachingStorage(backend)
        try await cache.apply([.put("k", [1])])
        await backend.hold("k")
        let reader = Task { try await cache.get("k") }
        await backend.waitUntilHeld()          // the reader has the old value in hand
        try await cache.put("k", [2])          // and the write commits meanwhile
        await backend.release()
        #expect(try await reader.value == [1], "the overlapping read may answer the old value")
        #expect(try await cache.get("k") == [2], "but it must not have cached it")
        #expect(try await cache.get("k") == [2])
    }

    @Test("bounded by entries and by bytes; a value over a sixteenth of the bytes is never cached")
    func bounds() async throws {
        let cache = CachingStorage(MemoryStorage(), limits: .init(maxEntries: 10, maxBytes: 1 << 20))
        for index in 0..<100 { try await cache.put("k\(index)", [UInt8(index)]) }
        for index in 0..<100 { #expect(try await cache.get("k\(index)") == [UInt8(index)]) }
        #expect(cache.size.entries <= 10)
        // The most recent keys are the ones kept.
        let before = cache.statistics.hits
        _ = try await cache.get("k99")
        #expect(cache.statistics.hits == before + 1)

        let small = CachingStorage(MemoryStorage(), limits: .init(maxEntries: 1000, maxBytes: 64 * 1024))
        for index in 0..<200 { try await small.put("v\(index)", [UInt8](repeating: 7, count: 1000)) }
        for index in 0..<200 { _ = try await small.get("v\(index)") }
        #expect(small.size.bytes <= 64 * 1024 + 2000)
        try await small.put("huge", [UInt8](repeating: 1, count: 8 * 1024))
        _ = try await small.get("huge")
        _ = try await small.get("huge")
        #expect(small.statistics.hits == 0, "a value larger than maxBytes/16 is read from the backend each time")
    }

    @Test("a flood of concurrent writers and readers: every writer reads its own last write, and afterwards the cache agrees with the backend")
    func flood() async throws {
        let backend = MemoryStorage()
        let cache = CachingStorage(backend, limits: .init(maxEntries: 64, maxBytes: 1 << 20))
        let keys = (0..<32).map { "shared/\($0)" }
        try await cache.apply(keys.map { .put($0, [0]) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    for round in 1...300 {
                        // Each writer owns every eighth key, and must read back what it wrote.
                        let mine = keys[(writer + 8 * Int.random(in: 0..<4, using: &generator))]
                        let value = [UInt8(writer), UInt8(round % 256), UInt8(round / 256)]
                        if round % 50 == 0 {
                            try await cache.apply([.delete(mine)])
                            #expect(try await cache.get(mine) == nil)
                        } else {
                            try await cache.put(mine, value)
                            #expect(try await cache.get(mine) == value)
                        }
                    }
                }
            }
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<600 { _ = try await cache.get(keys.randomElement()!) }
                }
            }
            try await group.waitForAll()
        }
        for key in keys {
            let stored = await backend.get(key)
            #expect(try await cache.get(key) == stored, "\(key)")
            #expect(try await cache.get(key) == stored, "\(key), as a hit")
        }
        #expect(cache.size.entries <= 64)
    }
}
