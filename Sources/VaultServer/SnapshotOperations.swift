import Foundation
import Logging
import VaultCore
import VaultSnapshot

/// Taking and restoring snapshots: the vault's records (VaultCore) in the snapshot file
/// (VaultSnapshot). Shared by the HTTP routes and the scheduled snapshots.
enum SnapshotOperations {
    /// A consistent snapshot of `core`'s storage, as the file's bytes.
    static func take(_ core: VaultCore) async throws -> (file: [UInt8], manifest: SnapshotManifest) {
        let source = try await core.snapshotSource()
        var manifest = SnapshotManifest(
            createdAt: Date().formatted(.iso8601), clusterID: source.clusterID, clusterName: source.clusterName,
            validationHash: source.validationHash, storageType: source.storageType, vaultdVersion: VaultBuild.version
        )
        manifest.entries = source.records.count
        let snapshot = Snapshot(manifest: manifest, entries: source.records.map { Snapshot.Entry(key: $0.key, value: $0.value) })
        let file = try await snapshot.archive { try await core.sealSnapshotChecksums($0) }
        return (file, manifest)
    }

    /// Checks `file` completely, then replaces the vault's storage with it in one transaction.
    /// Refused, with nothing changed: a damaged file; without `force`, a snapshot made under
    /// another seal key or of another vault.
    static func restore(_ file: [UInt8], into core: VaultCore, force: Bool) async throws -> RestoreOutcome {
        guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed: unseal it before restoring a snapshot") }
        let opened: Snapshot.Opened
        do { opened = try Snapshot.open(file) } catch {
            throw VaultError(.badRequest, "the snapshot is refused and nothing was changed: \(error.message)")
        }
        let manifest = opened.snapshot.manifest
        let checksums = try await core.openSnapshotChecksums(opened.sealedChecksums)
        if let checksums, checksums != opened.checksums {
            throw VaultError(.badRequest, "the snapshot is refused and nothing was changed: SHA256SUMS.sealed does not match SHA256SUMS, so the file was altered after it was made")
        }
        if checksums == nil && !force {
            throw VaultError(.badRequest, "the snapshot is refused and nothing was changed: it was made under another seal key (validation hash \(manifest.validationHash)). Restore it with -force (sys/storage/raft/snapshot-force) only if that is intended: this vault's contents are then replaced, it is sealed, and it unseals only with the snapshot's seal key")
        }
        if let clusterID = await core.clusterID, clusterID != manifest.clusterID, !force {
            throw VaultError(.badRequest, "the snapshot is refused and nothing was changed: it is of another vault (cluster_id \(manifest.clusterID); this one is \(clusterID)). Restore it with -force (sys/storage/raft/snapshot-force) to replace this vault's contents with it")
        }
        let records = opened.snapshot.entries.map { StorageEntry(key: $0.key, value: $0.value) }
        return try await core.restore(records, sameSealKey: checksums != nil)
    }
}
