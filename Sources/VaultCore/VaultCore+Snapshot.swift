import Foundation
import SealKit

/// What a snapshot is made of: every stored record, read in one consistent view, and which
/// vault they belong to. VaultServer packs it into a file (VaultSnapshot).
public struct SnapshotSource: Sendable {
    public var records: [StorageEntry]
    public var clusterID: String
    public var clusterName: String
    public var validationHash: String
    public var storageType: String
}

/// What a restore left: a vault still unsealed (the snapshot is under this seal key), or a
/// sealed one that needs the snapshot's own seal key.
public enum RestoreOutcome: Sendable, Equatable {
    case unsealed
    case sealed(validationHash: String)
}

extension VaultCore {
    static let snapshotChecksumsAAD = "vaultd:snapshot-checksums"

    /// Every record, for a snapshot. Unsealed only: the checksums are sealed under the seal key.
    public func snapshotSource() async throws -> SnapshotSource {
        _ = try requireUnsealed()
        let records = try await storage.allRecords()
        // The seal configuration as the view saw it (the records are encrypted under it).
        guard let stored = records.first(where: { $0.key == SealConfiguration.storageKey }),
              let seen = try? JSONDecoder.vault.decode(SealConfiguration.self, from: Data(stored.value)) else {
            throw VaultError(.internalError, "storage holds no readable seal configuration: nothing to snapshot")
        }
        return SnapshotSource(records: records, clusterID: seen.clusterID, clusterName: seen.clusterName,
                              validationHash: seen.validationHash, storageType: storage.kind)
    }

    /// The snapshot's checksum lines encrypted under the seal key.
    public func sealSnapshotChecksums(_ lines: [UInt8]) throws -> [UInt8] {
        let ring = try requireUnsealed()
        return try ring.sealKey.reveal { try Envelope.seal(lines, key: $0, aad: Self.snapshotChecksumsAAD) }
    }

    /// The checksum lines of a snapshot made under this vault's seal key, or nil when it was
    /// made under another key (or the sealed copy is damaged).
    public func openSnapshotChecksums(_ sealed: [UInt8]) throws -> [UInt8]? {
        let ring = try requireUnsealed()
        return try? ring.sealKey.reveal { try Envelope.open(sealed, key: $0, aad: Self.snapshotChecksumsAAD) }
    }

    /// The cluster this vault is (seal-status's `cluster_id`), to tell a snapshot of another vault.
    public var clusterID: String? { configuration?.clusterID }

    /// Replaces everything stored with `records`, in one transaction: a crash leaves either
    /// the old contents or the new, never a mixture. Checked first (nothing is replaced when a
    /// check fails): the records hold a seal configuration and a system key, and — when
    /// `sameSealKey` — this vault's seal key opens that system key.
    ///
    /// Afterwards every cache goes (the records changed under them). Under the same seal key
    /// the vault stays unsealed with the restored system key; under another it is sealed, and
    /// unseals with the key whose validation hash the result names.
    public func restore(_ records: [StorageEntry], sameSealKey: Bool) async throws -> RestoreOutcome {
        let ring = try requireUnsealed()
        guard let configurationRecord = records.first(where: { $0.key == SealConfiguration.storageKey }),
              let restored = try? JSONDecoder.vault.decode(SealConfiguration.self, from: Data(configurationRecord.value)) else {
            throw VaultError(.badRequest, "the snapshot holds no readable seal configuration: it is not a snapshot of an initialised vault")
        }
        guard let systemEnvelope = records.first(where: { $0.key == Self.systemKeyPath })?.value else {
            throw VaultError(.badRequest, "the snapshot holds no system key: it is not a snapshot of an initialised vault")
        }
        var systemKey: SecretBytes?
        if sameSealKey {
            do {
                systemKey = try ring.sealKey.reveal { try Envelope.openSecret(systemEnvelope, key: $0, aad: Self.systemKeyAAD) }
            } catch {
                throw VaultError(.badRequest, "the snapshot's checksums are sealed under this vault's seal key but its system key does not open with it: the snapshot is damaged")
            }
        }
        // Nothing read before the restore may be cached after it.
        dropCaches()
        try await storage.apply([.deletePrefix("")] + records.map { .put($0.key, $0.value) })
        dropCaches()
        configuration = restored
        if let systemKey, keyRing != nil {
            let terms = try await loadKeyringTerms(sealKey: ring.sealKey)
            keyRing = try KeyRing(sealKey: ring.sealKey.revealed(), systemKey: systemKey, terms: terms)
            termEncryptions.removeAll()
            logger.info("snapshot restored", metadata: ["records": "\(records.count)", "cluster_id": "\(restored.clusterID)"])
            return .unsealed
        }
        seal()
        logger.warning("snapshot restored under another seal key: the vault is sealed until unsealed with that key", metadata: [
            "records": "\(records.count)", "cluster_id": "\(restored.clusterID)", "validation_hash": "\(restored.validationHash)",
        ])
        return .sealed(validationHash: restored.validationHash)
    }
}
