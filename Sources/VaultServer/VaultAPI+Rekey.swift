import HTTPServerKit
import Logging
import VaultCore
import VaultWire

/// `sys/rekey`: a new seal key (and split) for an initialised vault, authorised by the current
/// key or a threshold of its shares, so `bao operator rekey` (with `-verify` too) works. Vault's
/// paths answer bare, OpenBao's `sys/rotate/root/*` (what its CLI calls) under `data`. Like
/// generate-root it takes key material: the seal door, no token, the wrong-key limit.
///
/// vaultd adds `seal_key` to `init`: the new key made and stored by the caller beforehand (the
/// agent's rekey), so no answer that could be lost carries the only copy of it.
extension VaultAPI {
    mutating func addRekeyRoutes() {
        for (base, wrapped) in [("/v1/sys/rekey", false), ("/v1/sys/rotate/root", true)] {
            addRekeyRoutes(base: base, wrapped: wrapped)
        }
    }

    private mutating func addRekeyRoutes(base: String, wrapped: Bool) {
        let core = self.core
        let guardian = self.unsealGuard
        let logger = self.logger
        let answer = { @Sendable (status: RekeyStatus) -> HTTPResponse in
            JSONResponse.encode(RekeyResponse(status), underData: wrapped)
        }
        let keyStep = { @Sendable (request: HTTPRequest, step: @Sendable (String, String) async throws -> RekeyStatus) async throws -> HTTPResponse in
            guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed: unseal it before rekeying") }
            return answer(try await Self.keyStep(request, "sys/rekey", guardian: guardian, logger: logger, completes: \.complete, step))
        }
        route([.GET], base + "/init") { _, _ in
            guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed") }
            return answer(await core.rekeyStatus())
        }
        route([.PUT, .POST], base + "/init") { request, _ in
            try Self.requireSealDoor(request, "sys/rekey")
            guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed: unseal it before rekeying") }
            let body = try RequestBody(request.body)
            if let pgp = try body.strings("pgp_keys"), !pgp.isEmpty {
                throw WireError(.badRequest, "pgp_keys: vaultd returns the new shares in the clear to the caller on its socket; leave -pgp-keys out")
            }
            if try body.bool("backup") == true { throw WireError(.badRequest, "backup: vaultd keeps no backup of the new shares (it would need pgp_keys)") }
            let status = try await core.startRekey(
                shares: try body.int("secret_shares") ?? 1, threshold: try body.int("secret_threshold") ?? 1,
                requireVerification: try body.bool("require_verification") ?? false, sealKey: try body.string("seal_key")
            )
            return answer(status)
        }
        route([.DELETE], base + "/init") { request, _ in
            try Self.requireSealDoor(request, "sys/rekey")
            await core.cancelRekey()
            return JSONResponse.noContent()
        }
        route([.PUT, .POST], base + "/update") { request, _ in
            try await keyStep(request) { key, nonce in try await core.updateRekey(key: key, nonce: nonce) }
        }
        route([.GET], base + "/verify") { _, _ in
            guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed") }
            var status = await core.rekeyStatus()
            status.nonce = status.verificationNonce
            return answer(status)
        }
        route([.PUT, .POST], base + "/verify") { request, _ in
            try await keyStep(request) { key, nonce in
                var status = try await core.verifyRekey(key: key, nonce: nonce).status
                status.nonce = nonce
                return status
            }
        }
        route([.DELETE], base + "/verify") { request, _ in
            try Self.requireSealDoor(request, "sys/rekey")
            await core.cancelRekey()
            return JSONResponse.noContent()
        }
    }
}
