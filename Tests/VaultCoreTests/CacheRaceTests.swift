import Foundation
import VaultCoreTestSupport
import KeyKit
import SealKit
import Synchronization
import Testing
@testable import VaultCore

/// A storage whose first read of one key waits, before answering, until the test opens the gate: it holds a
/// request suspended inside the `VaultCore` actor while another request changes its state.
final class GatedStorage: StorageBackend, @unchecked Sendable {
    let inner = MemoryStorage()
    let kind = "gated"
    private let gated = Mutex<(key: String?, waiting: CheckedContinuation<Void, Never>?, reached: Bool)>((nil, nil, false))

    func hold(_ key: String) { gated.withLock { $0 = (key, nil, false) } }
    var reached: Bool { gated.withLock { $0.reached } }
    func release() {
        let waiting = gated.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = (nil, nil, state.reached) }
            return state.waiting
        }
        waiting?.resume()
    }

    /// Reads, then (for the held key) waits before answering: the caller gets a value that
    /// was true when read, as from any database.
    func get(_ key: String) async throws -> [UInt8]? {
        let value = await inner.get(key)
        if gated.withLock({ $0.key == key && $0.waiting == nil }) {
            await withCheckedContinuation { continuation in
                gated.withLock { $0.waiting = continuation; $0.reached = true }
            }
        }
        return value
    }
    func list(prefix: String) async throws -> [String] { await inner.list(prefix: prefix) }
    func apply(_ operations: [StorageOperation]) async throws { try await inner.apply(operations) }
    func allRecords() async throws -> [StorageEntry] { await inner.allRecords() }
}

@Suite("VaultCore caches across suspended requests")
struct CacheRaceTests {
    static func unsealedCore(_ storage: GatedStorage) async throws -> (VaultCore, String) {
        let core = VaultCore(storage: storage, validationHash: nil)
        try await core.load()
        let phrase = try #require(try await core.initialize(InitParameters()).phrase)
        _ = try await core.submitUnsealKey(phrase)
        return (core, phrase)
    }

    static func waitUntilReached(_ storage: GatedStorage) async throws {
        for _ in 0..<500 where !storage.reached { try await Task.sleep(for: .milliseconds(2)) }
        try #require(storage.reached, "the request never reached the gated read")
    }

    @Test("a seal during a request's master-key read leaves no master key in memory")
    func sealDuringRead() async throws {
        let storage = GatedStorage()
        let (core, phrase) = try await Self.unsealedCore(storage)
        let vault = try await core.createVault(name: "v", description: "")
        await core.seal()
        _ = try await core.submitUnsealKey(phrase)   // caches empty again
        storage.hold(VaultCore.masterPath(vault.id))
        let request = Task { try? await core.listSecrets(vaultID: vault.id) }
        try await Self.waitUntilReached(storage)
        await core.seal()
        storage.release()
        _ = await request.value
        #expect(await core.masterKeys.isEmpty, "a master key was cached after the vault sealed")
        #expect(await core.vaultRecords.isEmpty)
    }

    @Test("a vault deleted during a request's reads is not brought back by the caches")
    func deleteDuringRead() async throws {
        let storage = GatedStorage()
        let (core, phrase) = try await Self.unsealedCore(storage)
        let vault = try await core.createVault(name: "v", description: "")
        await core.seal()
        _ = try await core.submitUnsealKey(phrase)
        storage.hold(VaultCore.masterPath(vault.id))
        let request = Task { try? await core.listSecrets(vaultID: vault.id) }
        try await Self.waitUntilReached(storage)
        try await core.deleteVault(vault.id)
        storage.release()
        _ = await request.value
        #expect(await core.masterKeys[vault.id] == nil, "the deleted vault's master key was cached")
        await #expect(throws: VaultError.self) {
            _ = try await core.createSecret(vaultID: vault.id, name: "orphan", type: "generic", description: "", value: "x")
        }
        #expect(try await storage.list(prefix: "vaults/\(vault.id)/").isEmpty)
    }

    @Test("a key deleted during an operation's material read is not cached and stays deleted; seal empties the key cache")
    func keyDeletedDuringRead() async throws {
        let storage = GatedStorage()
        let (core, phrase) = try await Self.unsealedCore(storage)
        let vault = try await core.createVault(name: "v", description: "")
        let created = try await core.createKey(vaultID: vault.id, try KeyRequest(spec: .ed25519, name: "k"))
        let keyID = created.record.id
        let sign = { @Sendable () async throws -> Int in
            try await core.withKeyMaterial(vaultID: vault.id, keyID: keyID, for: .signVerify, operation: "sign") { record, material throws(KeyKitError) in
                try KeyOperations.sign(record.spec, material: material, message: [1, 2, 3]).signature.count
            }
        }
        storage.hold(VaultCore.keyMaterialPath(vault.id, keyID))
        let request = Task { try? await sign() }
        try await Self.waitUntilReached(storage)
        try await core.deleteKey(vaultID: vault.id, keyID: keyID)
        storage.release()
        _ = await request.value
        #expect(await core.keyCache.isEmpty, "the deleted key was cached")
        await #expect(throws: VaultError.self) { _ = try await sign() }

        let other = try await core.createKey(vaultID: vault.id, try KeyRequest(spec: .ed25519, name: "k2"))
        _ = try await core.withKeyMaterial(vaultID: vault.id, keyID: other.record.id, for: .signVerify, operation: "sign") { _, material throws(KeyKitError) in material.count }
        #expect(await core.keyCache.count == 1)
        await core.seal()
        #expect(await core.keyCache.isEmpty)
        _ = try await core.submitUnsealKey(phrase)
        #expect(try await core.key(vaultID: vault.id, keyID: other.record.id).name == "k2")
    }

    @Test("a token revoked while a request reads it is refused afterwards; a cached token is refused right after revocation")
    func tokenRevokedDuringRead() async throws {
        let storage = GatedStorage()
        let (core, _) = try await Self.unsealedCore(storage)
        let record = TokenRecord(policies: ["scoped"], vaultIDs: [], capabilities: [.read], accessor: "a", createdAt: Date(), displayName: "t")
        let token = try await core.createToken(record)
        storage.hold(TokenRecord.storageKey(for: token))
        let request = Task { try? await core.authenticate(token) }
        try await Self.waitUntilReached(storage)
        try await core.revokeToken(token)
        storage.release()
        _ = await request.value
        await #expect(throws: VaultError.self) { _ = try await core.authenticate(token) }

        let other = try await core.createToken(record)
        _ = try await core.authenticate(other)   // now cached
        try await core.revokeToken(other)
        await #expect(throws: VaultError.self) { _ = try await core.authenticate(other) }
    }
}
