import HTTPServerKit
import Logging
import VaultCore
import VaultWire

/// `sys/generate-root`: a new root token, authorised by the seal key or a threshold of shares
/// (secret or recovery), encoded with a one-time pad as Vault does — so `bao operator
/// generate-root -init`, the shares, and `-decode` work. The way back to administration for a
/// vault initialised with `root_token = "discard"`.
///
/// Like unseal it takes key material: it comes through the seal door (the Unix socket, or a
/// TCP listener with `allow_seal_operations`), and wrong keys count toward the same per-peer
/// limit. Its status is readable anywhere.
extension VaultAPI {
    mutating func addGenerateRootRoutes() {
        // Vault's paths answer bare; OpenBao's (the ones `bao operator generate-root` calls since
        // OpenBao 2.5) answer under `data`. OpenBao also asks a token there; vaultd does not,
        // on either: the key is the authorisation, the seal door limits who can reach it, and a
        // vault whose root token was discarded has no token to give.
        for (base, wrapped) in [("/v1/sys/generate-root", false), ("/v1/sys/generate-root-token", true)] {
            addGenerateRootRoutes(base: base, wrapped: wrapped)
        }
    }

    private mutating func addGenerateRootRoutes(base: String, wrapped: Bool) {
        let core = self.core
        let guardian = self.unsealGuard
        let logger = self.logger
        let answer = { @Sendable (status: RootGenerationStatus) -> HTTPResponse in
            JSONResponse.encode(GenerateRootStatusResponse(status), underData: wrapped)
        }
        route([.GET], base + "/attempt") { _, _ in
            try await Self.requireUnsealedForRootGeneration(core)
            return answer(await core.rootGenerationStatus())
        }
        route([.PUT, .POST], base + "/attempt") { request, _ in
            try Self.requireSealDoor(request, "sys/generate-root")
            try await Self.requireUnsealedForRootGeneration(core)
            let body = try RequestBody(request.body)
            if let pgp = try body.string("pgp_key"), !pgp.isEmpty {
                throw WireError(.badRequest, "pgp_key: vaultd encodes the new root token with an OTP only; start without -pgp-key")
            }
            return answer(try await core.startRootGeneration(otp: try body.string("otp")))
        }
        route([.DELETE], base + "/attempt") { request, _ in
            try Self.requireSealDoor(request, "sys/generate-root")
            await core.cancelRootGeneration()
            return JSONResponse.noContent()
        }
        route([.PUT, .POST], base + "/update") { request, _ in
            answer(try await Self.keyStep(request, "sys/generate-root", guardian: guardian, logger: logger, completes: \.complete) { key, nonce in
                try await Self.requireUnsealedForRootGeneration(core)
                return try await core.updateRootGeneration(key: key, nonce: nonce)
            })
        }
    }

    private static func requireUnsealedForRootGeneration(_ core: VaultCore) async throws {
        guard await core.isInitialized else { throw VaultError(.notInitialized, "vault is not initialized") }
        guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed: unseal it before generating a root token") }
    }
}
