import Foundation
import HTTPServerKit
import VaultCore
import VaultWire

/// Snapshots by Vault's raft paths, so `bao operator raft snapshot save|restore` work against
/// vaultd whatever its storage: GET takes one, POST restores one (`snapshot-force` also
/// restores a snapshot of another vault or seal key). The root token only: a snapshot holds
/// every record (encrypted), and a restore replaces them all.
extension VaultAPI {
    mutating func addSnapshotRoutes() {
        let core = self.core
        let logger = self.logger
        route([.GET], "/v1/sys/storage/raft/snapshot") { request, _ in
            try await Self.requireRoot(request, core: core, "taking a snapshot")
            let (file, manifest) = try await SnapshotOperations.take(core)
            logger.info("snapshot taken", metadata: ["records": "\(manifest.entries)", "bytes": "\(file.count)"])
            return HTTPResponse(status: .ok, headers: [
                "Content-Type": "application/gzip",
                "Content-Disposition": "attachment; filename=\"vaultd-\(manifest.clusterName).snap\"",
            ], body: file)
        }
        for (path, force) in [("/v1/sys/storage/raft/snapshot", false), ("/v1/sys/storage/raft/snapshot-force", true)] {
            route([.POST, .PUT], path) { request, _ in
                try await Self.requireRoot(request, core: core, "restoring a snapshot")
                let outcome = try await SnapshotOperations.restore(request.body, into: core, force: force)
                switch outcome {
                case .unsealed:
                    return JSONResponse.noContent()
                case .sealed(let hash):
                    return JSONResponse.encode(WarningsResponse(warnings: [
                        "the snapshot was made under another seal key: this vault is now sealed; unseal it with that key (validation hash \(hash)) and give the agent that key (seal_validation_hash and its source)",
                    ]))
                }
            }
        }
    }

    static func requireRoot(_ request: HTTPRequest, core: VaultCore, _ operation: String) async throws {
        guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed") }
        let token = try await core.authenticate(token(of: request))
        guard token.isRoot else { throw VaultError(.permissionDenied, "permission denied: \(operation) needs the root token") }
    }
}
