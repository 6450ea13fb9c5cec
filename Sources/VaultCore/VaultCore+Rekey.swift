import Foundation
import SealKit

/// A rekey in progress (Vault's `sys/rekey`): the new split asked for, the shares of the
/// current key given so far, and — with verification — the new key waiting for its shares to
/// come back before it replaces the old one. In memory only: a restart, a seal or a failover
/// cancels it, and until it commits the old key stays the vault's.
struct RekeyAttempt {
    let nonce: String
    let secretShares: Int
    let secretThreshold: Int
    let requireVerification: Bool
    /// A key the caller has already stored (vaultd's `seal_key`: the agent's rekey); nil, the
    /// vault makes one.
    let suppliedKey: CloakedKey?
    let authorization = KeyAuthorization()
    /// With verification: the new key, made once the current one authorised the rekey.
    var pending: CloakedKey?
    var verificationNonce = ""
    let verification = KeyAuthorization()
}

/// What `sys/rekey/init` and `…/update` report; `keys` only in the answer that made them.
public struct RekeyStatus: Sendable, Equatable {
    public var nonce = ""
    public var started = false
    public var threshold = 0
    public var shares = 0
    public var progress = 0
    public var required = 0
    public var verificationRequired = false
    public var verificationNonce = ""
    public var complete = false
    public var keys: [String] = []
    public var keysBase64: [String] = []
    public var recoveryKeysBase64: [String] = []
    /// The new key's validation hash, once it exists.
    public var validationHash = ""
}

extension VaultCore {
    public func rekeyStatus() -> RekeyStatus {
        guard let attempt = rekeyAttempt else { return RekeyStatus(required: configuration?.secretThreshold ?? 0) }
        var status = RekeyStatus(nonce: attempt.nonce, started: true, threshold: attempt.secretThreshold, shares: attempt.secretShares,
                                 progress: attempt.authorization.shares.count, required: configuration?.secretThreshold ?? 0,
                                 verificationRequired: attempt.requireVerification)
        if attempt.pending != nil {
            status.verificationNonce = attempt.verificationNonce
            status.progress = attempt.verification.shares.count
        }
        return status
    }

    /// Starts a rekey to `shares`/`threshold` (1/1: the key itself), or to `sealKey` (text in
    /// any form) when the caller made and stored the new key already.
    public func startRekey(shares: Int, threshold: Int, requireVerification: Bool, sealKey text: String?) throws -> RekeyStatus {
        _ = try requireUnsealed()
        guard rekeyAttempt == nil else {
            throw VaultError(.badRequest, "a rekey is already in progress: finish it, or cancel it (DELETE sys/rekey/init)")
        }
        if configuredValidationHash != nil {
            throw VaultError(.badRequest, "vaultd's configuration pins seal_validation_hash (or SEAL_UNSEAL_VALIDATION_HASH): after a rekey it would refuse the new key at the next start. Remove the pin, rekey, then pin the new key's hash")
        }
        try Self.validateShares(shares, threshold, setting: "secret")
        var supplied: CloakedKey?
        if let text {
            let key: SealKey
            do { key = try SealKey(parsing: text) } catch { throw VaultError(.badRequest, "seal_key: \(error.reason)") }
            supplied = try CloakedKey(key.secretBytes())
        }
        rekeyAttempt = RekeyAttempt(nonce: UUIDText.random(), secretShares: shares, secretThreshold: threshold,
                                    requireVerification: requireVerification, suppliedKey: supplied)
        logger.warning("rekey started", metadata: ["nonce": "\(rekeyAttempt!.nonce)", "secret_shares": "\(shares)", "new_key": .string(text == nil ? "generated" : "supplied")])
        return rekeyStatus()
    }

    public func cancelRekey() {
        if rekeyAttempt != nil { logger.info("rekey cancelled") }
        rekeyAttempt = nil
    }

    /// Takes the current key or a share of it. Once authorised: without verification the new
    /// key replaces the old at once and its shares are returned; with verification the shares
    /// are returned and the switch waits for them to come back (``verifyRekey(key:nonce:)``).
    public func updateRekey(key text: String, nonce: String) async throws -> RekeyStatus {
        _ = try requireUnsealed()
        guard let attempt = rekeyAttempt else { throw VaultError(.badRequest, "no rekey is in progress: start one (PUT sys/rekey/init)") }
        guard nonce == attempt.nonce else { throw VaultError(.badRequest, "nonce does not match the rekey in progress (\(attempt.nonce))") }
        guard attempt.pending == nil else {
            throw VaultError(.badRequest, "this rekey is authorised already and waits for its new shares: send them to sys/rekey/verify")
        }
        guard try await authorizingKey(text, collecting: attempt.authorization) != nil else { return rekeyStatus() }
        let newKey: SealKey
        if let supplied = attempt.suppliedKey { newKey = try SealKey(bytes: supplied.key.revealed()) } else { newKey = try SealKey.generate() }
        var status = rekeyStatus()
        (status.keys, status.keysBase64) = try Self.shares(of: newKey, count: attempt.secretShares, threshold: attempt.secretThreshold)
        status.validationHash = newKey.validationHash().description
        if attempt.requireVerification {
            rekeyAttempt?.pending = try CloakedKey(newKey.secretBytes())
            rekeyAttempt?.verificationNonce = UUIDText.random()
            status.verificationNonce = rekeyAttempt!.verificationNonce
            status.progress = 0
            // Vault's word: the rekey step is complete; the verification step begins.
            status.complete = true
            logger.info("rekey authorised; the new key waits for its shares to be verified")
            return status
        }
        status.recoveryKeysBase64 = try await commitRekey(to: newKey, shares: attempt.secretShares, threshold: attempt.secretThreshold)
        rekeyAttempt = nil
        status.complete = true
        return status
    }

    /// With verification: takes the new key or a share of it; when they make the new key, the
    /// switch happens. Returns whether it did.
    public func verifyRekey(key text: String, nonce: String) async throws -> (complete: Bool, status: RekeyStatus) {
        _ = try requireUnsealed()
        guard let attempt = rekeyAttempt, let pending = attempt.pending else {
            throw VaultError(.badRequest, "no rekey waits for verification")
        }
        guard nonce == attempt.verificationNonce else {
            throw VaultError(.badRequest, "nonce does not match the verification in progress (\(attempt.verificationNonce))")
        }
        let material: UnsealKeyText
        do { material = try UnsealKeyText(parsing: text) } catch { throw VaultError(.badRequest, error.reason) }
        let candidate: SealKey
        switch consume material {
        case .key(let key):
            candidate = key
        case .share(let share):
            _ = try attempt.verification.shares.add(share)
            guard attempt.verification.shares.count >= attempt.secretThreshold else { return (false, rekeyStatus()) }
            let combined = try? Shamir.combine(attempt.verification.shares.shares)
            attempt.verification.shares.reset()
            guard let combined, combined.count == SealKey.byteCount else {
                throw VaultError(.wrongKey, "the shares do not combine to the new key: verification progress reset")
            }
            candidate = try SealKey(bytes: combined)
        }
        let expected = try SealKey(bytes: pending.key.revealed())
        guard candidate.constantTimeEquals(expected) else {
            attempt.verification.shares.reset()
            throw VaultError(.wrongKey, "that is not the new key: verification progress reset")
        }
        var status = rekeyStatus()
        status.recoveryKeysBase64 = try await commitRekey(to: expected, shares: attempt.secretShares, threshold: attempt.secretThreshold)
        rekeyAttempt = nil
        status.complete = true
        return (true, status)
    }

    /// Re-encrypts everything the seal key protects (the system key, every vault's master key)
    /// under `newKey` and records its validation hash and split — one storage transaction, so a
    /// crash leaves the old key or the new one, never a mixture. Vault creation and deletion
    /// wait meanwhile, so no master key is wrapped under the old key after the list is taken.
    /// Returns new recovery shares when the vault had recovery shares (the old ones were shares
    /// of the old key).
    func commitRekey(to newKey: borrowing SealKey, shares: Int, threshold: Int) async throws -> [String] {
        let ring = try requireUnsealed()
        guard var newConfiguration = configuration else { throw VaultError(.notInitialized, "vault is not initialized") }
        rekeyCommitting = true
        defer { rekeyCommitting = false }
        for _ in 0..<2000 where sealKeyWritersInFlight > 0 { try await Task.sleep(for: .milliseconds(5)) }
        guard sealKeyWritersInFlight == 0 else { throw VaultError(.internalError, "vault creations did not finish within 10 s: rekey not committed; retry") }

        var operations = [StorageOperation]()
        guard let systemEnvelope = try await storage.get(Self.systemKeyPath) else {
            throw VaultError(.internalError, "the stored system key is missing: the database is damaged")
        }
        operations.append(.put(Self.systemKeyPath, try Self.rewrap(systemEnvelope, aad: Self.systemKeyAAD, from: ring.sealKey, to: newKey)))
        if let keyring = try await storage.get(Self.keyringPath) {
            operations.append(.put(Self.keyringPath, try Self.rewrap(keyring, aad: Self.keyringAAD, from: ring.sealKey, to: newKey)))
        }
        var vaults = 0
        for path in try await storage.list(prefix: "vaults/") where path.hasSuffix("/master") {
            guard let envelope = try await storage.get(path) else { continue }
            let id = String(path.dropFirst("vaults/".count).dropLast("/master".count))
            operations.append(.put(path, try Self.rewrap(envelope, aad: "vaultd:vault-master:\(id)", from: ring.sealKey, to: newKey)))
            vaults += 1
        }
        newConfiguration.validationHash = newKey.validationHash().description
        newConfiguration.secretShares = shares
        newConfiguration.secretThreshold = threshold
        var recovery = [String]()
        if newConfiguration.recoveryShares > 0 {
            recovery = try Self.shares(of: newKey, count: newConfiguration.recoveryShares, threshold: newConfiguration.recoveryThreshold, forceSplit: true).1
        }
        operations.append(.put(SealConfiguration.storageKey, Array(try JSONEncoder.vault.encode(newConfiguration))))
        try await storage.apply(operations)

        configuration = newConfiguration
        keyRing = try KeyRing(sealKey: newKey.duplicate().secretBytes(), systemKey: ring.systemKey.revealed(), terms: ring.terms)
        rekeysCommitted += 1
        logger.warning("rekey committed: the vault's seal key is replaced", metadata: [
            "vaults": "\(vaults)", "secret_shares": "\(shares)", "validation_hash": "\(newConfiguration.validationHash)",
        ])
        return recovery
    }

    /// `envelope` opened under the old seal key and sealed again under the new one, its
    /// plaintext only ever in locked memory.
    private static func rewrap(_ envelope: [UInt8], aad: String, from old: borrowing Cloaked, to new: borrowing SealKey) throws -> [UInt8] {
        let plain = try old.reveal { try Envelope.openSecret(envelope, key: $0, aad: aad) }
        return try new.withUnsafeBytes { newBytes in try plain.withUnsafeBytes { try Envelope.seal($0, key: newBytes, aad: aad) } }
    }

    /// Held by code that wraps or removes a master key under the seal key (vault creation and
    /// deletion, an unwrap on a cache miss): waits while a rekey commits.
    func waitForRekeyCommit() async throws {
        for _ in 0..<2000 where rekeyCommitting { try await Task.sleep(for: .milliseconds(5)) }
        if rekeyCommitting { throw VaultError(.internalError, "a rekey is committing: retry") }
    }
}
