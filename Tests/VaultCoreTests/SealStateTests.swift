import Foundation
import VaultCoreTestSupport
import SealKit
import Testing
@testable import VaultCore

@Suite("Seal state machine")
struct SealStateTests {
    static func core(hash: ValidationHash? = nil) async throws -> VaultCore {
        let core = VaultCore(storage: MemoryStorage(), validationHash: hash)
        try await core.load()
        return core
    }

    static func code(_ body: () async throws -> Void) async -> VaultError.Code? {
        do {
            try await body()
            return nil
        } catch let error as VaultError {
            return error.code
        } catch {
            return .internalError
        }
    }

    @Test("uninitialized → sealed → unsealed → sealed")
    func lifecycle() async throws {
        let core = try await Self.core()
        #expect(await core.status().initialized == false)
        #expect(await Self.code { _ = try await core.submitUnsealKey("x") } == .notInitialized)
        let result = try await core.initialize(InitParameters())
        #expect(result.keys.count == 1 && result.keys[0].count == 64)
        #expect(result.phrase?.split(separator: " ").count == 24)
        #expect(await core.isSealed)
        #expect(await Self.code { _ = try await core.initialize(InitParameters()) } == .conflict)
        let status = try await core.submitUnsealKey(result.phrase!)
        #expect(status.sealed == false)
        #expect(status.clusterID != nil)
        await core.seal()
        #expect(await core.isSealed)
        _ = try await core.submitUnsealKey(result.keysBase64[0])
        #expect(await !core.isSealed)
    }

    @Test("shares: progress, nonce, duplicates, reset, threshold")
    func shares() async throws {
        let core = try await Self.core()
        let result = try await core.initialize(InitParameters(secretShares: 5, secretThreshold: 3))
        #expect(result.keys.count == 5 && result.keys.allSatisfy { $0.count == 66 })
        var status = try await core.submitUnsealKey(result.keys[0])
        #expect(status.progress == 1 && status.sealed && !status.nonce.isEmpty)
        let nonce = status.nonce
        status = try await core.submitUnsealKey(result.keys[0])  // the same share again: no progress
        #expect(status.progress == 1 && status.nonce == nonce)
        status = await core.resetUnseal()
        #expect(status.progress == 0 && status.nonce.isEmpty)
        _ = try await core.submitUnsealKey(result.keysBase64[4])
        _ = try await core.submitUnsealKey(result.keys[2])
        status = try await core.submitUnsealKey(result.keysBase64[1])
        #expect(!status.sealed && status.progress == 0)
    }

    @Test("a whole key unseals a vault that was split into shares")
    func wholeKeyWithShares() async throws {
        let key = try SealKey.generate()
        let core = try await Self.core()
        _ = try await core.initialize(InitParameters(secretShares: 3, secretThreshold: 2, sealKey: key.encoded(as: .hex)))
        let status = try await core.submitUnsealKey(key.phrase())
        #expect(!status.sealed)
    }

    @Test("wrong keys are refused, reset progress, and change nothing")
    func wrongKeys() async throws {
        let core = try await Self.core()
        let result = try await core.initialize(InitParameters(secretShares: 3, secretThreshold: 2))
        _ = try await core.submitUnsealKey(result.keys[0])
        #expect(await Self.code { _ = try await core.submitUnsealKey(try SealKey.generate().phrase()) } == .wrongKey)
        #expect(await core.status().progress == 0, "a wrong key resets progress")
        var bad = Hex.decode(result.keys[1])!
        bad[0] ^= 1
        _ = try await core.submitUnsealKey(Hex.encode(bad))
        #expect(await Self.code { _ = try await core.submitUnsealKey(result.keys[2]) } == .wrongKey)
        #expect(await core.isSealed)
        for text in ["", "not a key", "00", String(repeating: "ab", count: 40)] {
            #expect(await Self.code { _ = try await core.submitUnsealKey(text) } == .badRequest, "\(text)")
        }
        var sameX = Hex.decode(result.keys[0])!
        sameX[3] ^= 1
        _ = try await core.submitUnsealKey(result.keys[0])
        #expect(await Self.code { _ = try await core.submitUnsealKey(Hex.encode(sameX)) } == .badRequest)
    }

    @Test("a configured validation hash refuses other keys before decryption, at init and unseal")
    func validationHash() async throws {
        let key = try SealKey.generate()
        let core = try await Self.core(hash: key.validationHash())
        #expect(await Self.code { _ = try await core.initialize(InitParameters(sealKey: try SealKey.generate().phrase())) } == .wrongKey)
        _ = try await core.initialize(InitParameters(sealKey: key.encoded(as: .base64)))
        #expect(await Self.code { _ = try await core.submitUnsealKey(try SealKey.generate().phrase()) } == .wrongKey)
        #expect(!(await core.status().sealed == false))
        _ = try await core.submitUnsealKey(key.phrase())
        #expect(await !core.isSealed)
        // Unsealed: a wrong whole key is still an error; the right one is fine.
        #expect(await Self.code { _ = try await core.submitUnsealKey(try SealKey.generate().phrase()) } == .wrongKey)
        _ = try await core.submitUnsealKey(key.encoded(as: .hex))
    }

    @Test("init parameters are checked like Vault's", arguments: [(0, 0), (3, 1), (2, 3), (256, 2), (3, 0)])
    func initParameters(shares: Int, threshold: Int) async throws {
        let core = try await Self.core()
        #expect(await Self.code { _ = try await core.initialize(InitParameters(secretShares: shares, secretThreshold: threshold)) } == .badRequest)
        #expect(await core.isInitialized == false)
    }

    @Test("recovery shares recombine to the seal key")
    func recoveryShares() async throws {
        let core = try await Self.core()
        let result = try await core.initialize(InitParameters(recoveryShares: 5, recoveryThreshold: 3))
        #expect(result.recoveryKeys.count == 5)
        let parts = result.recoveryKeysBase64.prefix(3).map { Array(Data(base64Encoded: $0)!) }
        let key = try SealKey(bytes: try Shamir.combine(Array(parts)))
        _ = try await core.submitUnsealKey(key.phrase())
        #expect(await !core.isSealed)
    }
}

@Suite("Vault data")
struct VaultDataTests {
    static func unsealed() async throws -> (VaultCore, MemoryStorage, String) {
        let storage = MemoryStorage()
        let core = VaultCore(storage: storage)
        let result = try await core.initialize(InitParameters())
        _ = try await core.submitUnsealKey(result.keys[0])
        return (core, storage, result.rootToken)
    }

    @Test("tokens: root authenticates, unknown and revoked do not, only hashes are stored")
    func tokens() async throws {
        let (core, storage, root) = try await Self.unsealed()
        #expect(try await core.authenticate(root).isRoot)
        await #expect(throws: VaultError.self) { _ = try await core.authenticate("vd.bogus") }
        await #expect(throws: VaultError.self) { _ = try await core.authenticate(nil) }
        let other = try await core.createToken(TokenRecord(policies: ["default"], vaultIDs: [], createdAt: Date(), displayName: "app"))
        #expect(try await core.authenticate(other).isRoot == false)
        try await core.revokeToken(other)
        await #expect(throws: VaultError.self) { _ = try await core.authenticate(other) }
        for key in await storage.list(prefix: "") {
            let value = await storage.get(key)!
            #expect(!value.contains(Array(root.utf8)))
            #expect(!key.contains(root))
        }
        await core.seal()
        let sealed = await #expect(throws: VaultError.self) { _ = try await core.authenticate(root) }
        #expect(sealed?.code == .sealed)
    }

    @Test("secrets round-trip, list without values, delete, and 404 for unknown ids")
    func secrets() async throws {
        let (core, _, _) = try await Self.unsealed()
        let vault = try await core.createVault(name: "v", description: "d")
        let created = try await core.createSecret(vaultID: vault.id, name: "n", type: "t", description: "", value: "value-1")
        #expect(created.value == nil)
        #expect(try await core.secret(vaultID: vault.id, secretID: created.id).value == "value-1")
        #expect(try await core.listSecrets(vaultID: vault.id).map(\.value) == [nil])
        try await core.deleteSecret(vaultID: vault.id, secretID: created.id)
        let missing = await #expect(throws: VaultError.self) { _ = try await core.secret(vaultID: vault.id, secretID: created.id) }
        #expect(missing?.code == .notFound)
        let badVault = await #expect(throws: VaultError.self) { _ = try await core.listSecrets(vaultID: "../../core/system-key") }
        #expect(badVault?.code == .notFound)
        try await core.deleteVault(vault.id)
        #expect(try await core.listVaults().isEmpty)
    }

    @Test("ciphertext moved to another record fails to open (AAD binds it to its place)")
    func aadBinding() async throws {
        let (core, storage, _) = try await Self.unsealed()
        let vault = try await core.createVault(name: "v", description: "")
        let a = try await core.createSecret(vaultID: vault.id, name: "a", type: "t", description: "", value: "A")
        let b = try await core.createSecret(vaultID: vault.id, name: "b", type: "t", description: "", value: "B")
        let pathA = "vaults/\(vault.id)/secrets/\(a.id)"
        let pathB = "vaults/\(vault.id)/secrets/\(b.id)"
        let envelopeA = await storage.get(pathA)!
        try await storage.apply([.put(pathB, envelopeA)])
        let error = await #expect(throws: VaultError.self) { _ = try await core.secret(vaultID: vault.id, secretID: b.id) }
        #expect(error?.code == .internalError)
        // A flipped byte fails too.
        var flipped = envelopeA
        flipped[flipped.count - 1] ^= 1
        try await storage.apply([.put(pathA, flipped)])
        await #expect(throws: VaultError.self) { _ = try await core.secret(vaultID: vault.id, secretID: a.id) }
    }

    @Test("everything needs the vault unsealed")
    func sealedRefuses() async throws {
        let (core, _, _) = try await Self.unsealed()
        let vault = try await core.createVault(name: "v", description: "")
        await core.seal()
        for operation in [
            { _ = try await core.listVaults() },
            { _ = try await core.createVault(name: "x", description: "") },
            { _ = try await core.listSecrets(vaultID: vault.id) },
        ] as [() async throws -> Void] {
            let error = await #expect(throws: VaultError.self) { try await operation() }
            #expect(error?.code == .sealed)
        }
    }
}
