import Foundation
import SealKit
import Testing
import VaultCoreTestSupport
@testable import VaultCore

@Suite("rekey in the core")
struct RekeyTests {
    /// Two nodes on one storage, both unsealed with the same key (phrase returned).
    static func twoNodes() async throws -> (active: VaultCore, standby: VaultCore, phrase: String) {
        let storage = MemoryStorage()
        let active = VaultCore(storage: storage)
        let standby = VaultCore(storage: storage)
        try await active.load()
        let phrase = try SealKey.generate().phrase()
        _ = try await active.initialize(InitParameters(sealKey: phrase))
        try await standby.load()
        _ = try await active.submitUnsealKey(phrase)
        _ = try await standby.submitUnsealKey(phrase)
        return (active, standby, phrase)
    }

    @Test("two nodes on one storage: a rekey on the active one seals the other at its next term, and the new key unseals it")
    func standbySealedAfterRekey() async throws {
        let (active, standby, phrase) = try await Self.twoNodes()
        let vault = try await active.createVault(name: "kept", description: "")
        let secret = try await active.createSecret(vaultID: vault.id, name: "s", type: "", description: "", value: "value")

        let next = try SealKey.generate().phrase()
        let started = try await active.startRekey(shares: 1, threshold: 1, requireVerification: false, sealKey: next)
        let done = try await active.updateRekey(key: phrase, nonce: started.nonce)
        let expectedHash = try SealKey(parsing: next).validationHash().description
        #expect(done.complete && done.validationHash == expectedHash)
        #expect(try await active.secret(vaultID: vault.id, secretID: secret.id).value == "value")

        try await standby.startTerm()
        #expect(await standby.isSealed, "a node holding the replaced key kept serving")
        await #expect(throws: VaultError.self) { _ = try await standby.submitUnsealKey(phrase) }
        _ = try await standby.submitUnsealKey(next)
        #expect(try await standby.secret(vaultID: vault.id, secretID: secret.id).value == "value")
    }

    @Test("recovery shares are made again for the new key; the old ones no longer authorise")
    func recoverySharesRenewed() async throws {
        let core = VaultCore(storage: MemoryStorage())
        try await core.load()
        let phrase = try SealKey.generate().phrase()
        let initialized = try await core.initialize(InitParameters(recoveryShares: 3, recoveryThreshold: 2, sealKey: phrase))
        _ = try await core.submitUnsealKey(phrase)
        let started = try await core.startRekey(shares: 1, threshold: 1, requireVerification: false, sealKey: nil)
        // Authorised by two recovery shares of the current key.
        #expect(try await core.updateRekey(key: initialized.recoveryKeysBase64[0], nonce: started.nonce).complete == false)
        let done = try await core.updateRekey(key: initialized.recoveryKeysBase64[2], nonce: started.nonce)
        #expect(done.complete && done.recoveryKeysBase64.count == 3)
        let again = try await core.startRekey(shares: 1, threshold: 1, requireVerification: false, sealKey: nil)
        _ = try? await core.updateRekey(key: initialized.recoveryKeysBase64[0], nonce: again.nonce)
        await #expect(throws: VaultError.self) { _ = try await core.updateRekey(key: initialized.recoveryKeysBase64[1], nonce: again.nonce) }
        _ = try await core.updateRekey(key: done.recoveryKeysBase64[0], nonce: again.nonce)
        #expect(try await core.updateRekey(key: done.recoveryKeysBase64[1], nonce: again.nonce).complete)
    }
}
