import Crypto
import Foundation
import SealKit

/// A vault's data key for one keyring term: term 1 is the vault's master key itself (every
/// record written before the first rotation); a later term's is derived from the master key and
/// that term's random key (HKDF-SHA256), so records written after a rotation need both.
struct DataKey {
    let term: UInt32
    let key: CloakedKey
}

/// `sys/key-status`: the active term, when it was installed, how many encryptions it made.
public struct KeyringStatus: Sendable, Equatable {
    public var term: Int
    public var installTime: Date
    public var encryptions: Int
}

/// What the keyring records in the clear beside it (`core/keyring-status`): when each term was
/// installed and how many encryptions it had made by the last rotation.
struct KeyringTerms: Codable {
    struct Term: Codable {
        var term: UInt32
        var installedAt: Date
        var encryptions: Int

        enum CodingKeys: String, CodingKey {
            case term, encryptions
            case installedAt = "installed_at"
        }
    }
    var terms: [Term]
}

extension VaultCore {
    static let keyringPath = "core/keyring"
    static let keyringAAD = "vaultd:keyring"
    static let keyringStatusPath = "core/keyring-status"
    /// A term's entry in the keyring record: term (4 bytes, big-endian), then its 32-byte key.
    static let keyringEntrySize = 4 + 32

    /// The data key of `vaultID` for the active term (`term` nil) or for `term`.
    func dataKey(_ vaultID: String, term: UInt32? = nil) async throws -> DataKey {
        let master = try await masterKey(vaultID)
        let ring = try requireUnsealed()
        let term = term ?? ring.activeTerm
        if term == 1 { return DataKey(term: 1, key: master) }
        let cacheKey = "\(vaultID)#\(term)"
        if let cached = masterKeys[cacheKey] { return DataKey(term: term, key: cached) }
        let key: CloakedKey = try ring.withTermKey(term) { termKey in
            try master.key.reveal { masterBytes in
                try HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: masterBytes), salt: termKey,
                                           info: Array("vaultd:vault-term:\(vaultID)".utf8), outputByteCount: 32)
                    .withUnsafeBytes { try CloakedKey(SecretBytes(copying: $0)) }
            }
        }
        if keyRing === ring { masterKeys[cacheKey] = key }
        return DataKey(term: term, key: key)
    }

    /// The data key that opens `envelope` (the term it names).
    func dataKey(_ vaultID: String, for envelope: [UInt8]) async throws -> CloakedKey {
        guard let term = Envelope.term(of: envelope) else {
            throw VaultError(.internalError, "a record of vault \(vaultID) is malformed: the database is damaged")
        }
        return try await dataKey(vaultID, term: term).key
    }

    func noteEncryption(_ term: UInt32) {
        termEncryptions[term, default: 0] += 1
        // max_operations: checked every 100 encryptions, off the request's path.
        if let policy = cachedRotationPolicy, policy.enabled, policy.maxOperations > 0,
           termEncryptions[term, default: 0] % 100 == 0, !rotatingByPolicy {
            Task { try? await self.rotateIfDue() }
        }
    }

    /// Terms 2 and later, from `core/keyring` (sealed under `sealKey`); empty before the first
    /// rotation.
    func loadKeyringTerms(sealKey: borrowing Cloaked) async throws -> [UInt32: CloakedKey] {
        guard let envelope = try await storage.get(Self.keyringPath) else { return [:] }
        let plain: SecretBytes
        do { plain = try sealKey.reveal { try Envelope.openSecret(envelope, key: $0, aad: Self.keyringAAD) } } catch {
            throw VaultError(.internalError, "the keyring does not open with the seal key: the database is damaged")
        }
        return try plain.withUnsafeBytes { bytes -> [UInt32: CloakedKey] in
            guard bytes.count % Self.keyringEntrySize == 0 else { throw VaultError(.internalError, "the keyring record is damaged") }
            var terms = [UInt32: CloakedKey]()
            for offset in stride(from: 0, to: bytes.count, by: Self.keyringEntrySize) {
                let term = (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[offset + $1]) }
                terms[term] = try CloakedKey(SecretBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + Self.keyringEntrySize)])))
            }
            return terms
        }
    }

    /// The active term's status (`sys/key-status`).
    public func keyringStatus() async throws -> KeyringStatus {
        let ring = try requireUnsealed()
        let recorded = try await keyringTerms()
        let entry = recorded.terms.first { $0.term == ring.activeTerm }
        return KeyringStatus(term: Int(ring.activeTerm), installTime: entry?.installedAt ?? configuration?.initializedAt ?? Date(),
                             encryptions: (entry?.encryptions ?? 0) + termEncryptions[ring.activeTerm, default: 0])
    }

    private func keyringTerms() async throws -> KeyringTerms {
        guard let data = try await storage.get(Self.keyringStatusPath) else { return KeyringTerms(terms: []) }
        return (try? JSONDecoder.vault.decode(KeyringTerms.self, from: Data(data))) ?? KeyringTerms(terms: [])
    }

    /// `sys/rotate`: a new term, with a random key, becomes the active one; every older term stays
    /// in the keyring so what it sealed stays readable. One transaction (the keyring, sealed
    /// under the seal key, and its status record); it waits for a rekey in progress, and a rekey
    /// waits for it.
    @discardableResult
    public func rotateKeyring() async throws -> KeyringStatus {
        try await waitForRekeyCommit()
        let ring = try requireUnsealed()
        rekeyCommitting = true
        defer { rekeyCommitting = false }
        let newTerm = ring.activeTerm + 1
        var terms = ring.terms
        terms[newTerm] = try CloakedKey(SecretBytes.random(count: 32))
        var plain = [UInt8]()
        defer { plain.wipe() }
        for (term, key) in terms.sorted(by: { $0.key < $1.key }) {
            plain += [UInt8(term >> 24), UInt8(term >> 16 & 0xff), UInt8(term >> 8 & 0xff), UInt8(term & 0xff)]
            plain += try key.key.reveal { Array($0) }
        }
        let envelope = try ring.sealKey.reveal { try Envelope.seal(plain, key: $0, aad: Self.keyringAAD) }
        var recorded = try await keyringTerms()
        if recorded.terms.isEmpty {
            recorded.terms.append(.init(term: 1, installedAt: configuration?.initializedAt ?? Date(), encryptions: 0))
        }
        for index in recorded.terms.indices {
            recorded.terms[index].encryptions += termEncryptions[recorded.terms[index].term, default: 0]
        }
        let now = Date()
        recorded.terms.append(.init(term: newTerm, installedAt: now, encryptions: 0))
        try await storage.apply([
            .put(Self.keyringPath, envelope),
            .put(Self.keyringStatusPath, Array(try JSONEncoder.vault.encode(recorded))),
        ])
        termEncryptions.removeAll()
        keyRing = try ring.with(terms: terms)
        logger.info("keyring rotated", metadata: ["term": "\(newTerm)"])
        return KeyringStatus(term: Int(newTerm), installTime: now, encryptions: 0)
    }
}
