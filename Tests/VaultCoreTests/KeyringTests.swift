import Foundation
import SealKit
import Testing
import VaultCoreTestSupport
@testable import VaultCore

@Suite("keyring rotation in the core")
struct KeyringTests {
    @Test("after two rotations new records name term 3, every older record reads back, after a restart and a rekey too")
    func rotations() async throws {
        let storage = MemoryStorage()
        let core = VaultCore(storage: storage)
        try await core.load()
        let phrase = try SealKey.generate().phrase()
        _ = try await core.initialize(InitParameters(sealKey: phrase))
        _ = try await core.submitUnsealKey(phrase)
        let vault = try await core.createVault(name: "v", description: "")
        let first = try await core.createSecret(vaultID: vault.id, name: "a", type: "", description: "", value: "term-1")
        let token = try await core.createToken(TokenRecord(policies: ["root"], vaultIDs: nil, createdAt: Date(), displayName: "t1"))
        #expect(Envelope.term(of: try #require(await storage.get(VaultCore.secretPath(vault.id, first.id)))) == 1)

        let rotated = try await core.rotateKeyring()
        #expect(rotated.term == 2)
        _ = try await core.rotateKeyring()
        let second = try await core.createSecret(vaultID: vault.id, name: "b", type: "", description: "", value: "term-3")
        let laterVault = try await core.createVault(name: "w", description: "")
        #expect(Envelope.term(of: try #require(await storage.get(VaultCore.secretPath(vault.id, second.id)))) == 3)
        #expect(Envelope.term(of: try #require(await storage.get(VaultCore.metaPath(laterVault.id)))) == 3)
        let status = try await core.keyringStatus()
        #expect(status.term == 3 && status.encryptions >= 2)

        // A fresh process: the terms come back with the seal key.
        let restarted = VaultCore(storage: storage)
        try await restarted.load()
        _ = try await restarted.submitUnsealKey(phrase)
        #expect(try await restarted.secret(vaultID: vault.id, secretID: first.id).value == "term-1")
        #expect(try await restarted.secret(vaultID: vault.id, secretID: second.id).value == "term-3")
        #expect(try await restarted.authenticate(token).displayName == "t1")
        #expect(try await restarted.keyringStatus().term == 3)

        // A rekey rewraps the keyring with the rest.
        let next = try SealKey.generate().phrase()
        let started = try await restarted.startRekey(shares: 1, threshold: 1, requireVerification: false, sealKey: next)
        _ = try await restarted.updateRekey(key: phrase, nonce: started.nonce)
        let again = VaultCore(storage: storage)
        try await again.load()
        _ = try await again.submitUnsealKey(next)
        #expect(try await again.secret(vaultID: vault.id, secretID: second.id).value == "term-3")
        #expect(try await again.vault(laterVault.id).name == "w")
    }

    @Test("a standby picks up the terms the active node added when its own term starts")
    func standbyReloads() async throws {
        let (active, standby, _) = try await RekeyTests.twoNodes()
        let vault = try await active.createVault(name: "v", description: "")
        try await active.rotateKeyring()
        let secret = try await active.createSecret(vaultID: vault.id, name: "s", type: "", description: "", value: "after")
        try await standby.startTerm()
        #expect(try await standby.secret(vaultID: vault.id, secretID: secret.id).value == "after")
        #expect(try await standby.keyringStatus().term == 2)
    }

    @Test("rotation by policy: max_operations rotates after that many encryptions, interval after that long; disabled, neither")
    func policy() async throws {
        let core = VaultCore(storage: MemoryStorage())
        try await core.load()
        let phrase = try SealKey.generate().phrase()
        _ = try await core.initialize(InitParameters(sealKey: phrase))
        _ = try await core.submitUnsealKey(phrase)
        await #expect(throws: VaultError.self) { try await core.setRotationPolicy(RotationPolicy(enabled: true, maxOperations: 10)) }
        try await core.setRotationPolicy(RotationPolicy(enabled: true, maxOperations: 1000))
        for index in 0..<999 { _ = try await core.createToken(TokenRecord(policies: ["root"], vaultIDs: nil, createdAt: Date(), displayName: "t\(index)")) }
        #expect(try await core.rotateIfDue() == false)
        #expect(try await core.keyringStatus().term == 1)
        _ = try await core.createToken(TokenRecord(policies: ["root"], vaultIDs: nil, createdAt: Date(), displayName: "last"))
        // The 1000th encryption starts the rotation off the request's path (or the schedule
        // does): wait for it, bounded.
        for _ in 0..<500 {
            if try await core.keyringStatus().term == 2 { break }
            _ = try await core.rotateIfDue()
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await core.keyringStatus().term == 2)

        try await core.setRotationPolicy(RotationPolicy(enabled: true, intervalSeconds: 3600))
        #expect(try await core.rotateIfDue(now: Date().addingTimeInterval(60)) == false)
        #expect(try await core.rotateIfDue(now: Date().addingTimeInterval(3601)) == true)
        #expect(try await core.keyringStatus().term == 3)
        try await core.setRotationPolicy(RotationPolicy(enabled: false, intervalSeconds: 3600))
        #expect(try await core.rotateIfDue(now: Date().addingTimeInterval(99999)) == false)
    }
}
