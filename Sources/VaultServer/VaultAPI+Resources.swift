import Foundation
import HTTPServerKit
import NIOHTTP1
import SealKit
import VaultCore
import VaultWire

extension VaultAPI {
    /// The Provide vault's seal endpoints.
    mutating func addProvideRoutes() {
        let core = self.core
        let guardian = self.unsealGuard
        let logger = self.logger
        let allowUnsealerKey = self.allowUnsealerKey

        route([.POST], "/api/v1/unseal") { request, _ in
            try await Self.unseal(request, core: core, guardian: guardian, logger: logger)
            // 204 once unsealed; a share that leaves it sealed is accepted with 202 and the status.
            if await core.isSealed { return JSONResponse.encode(SealStatusResponse(await core.status()), status: .accepted) }
            return JSONResponse.noContent()
        }
        route([.POST], "/api/v1/seal") { request, _ in
            let token = try await core.authenticate(Self.token(of: request))
            guard token.isRoot else { throw VaultError(.permissionDenied, "permission denied: sealing needs the root token") }
            await core.seal()
            return JSONResponse.noContent()
        }
        route([.POST], "/api/v1/unsealerkey") { _, _ in
            guard allowUnsealerKey else {
                throw VaultError(.permissionDenied, "unsealer keys are handed out only in dev mode or with SEAL_UNSEAL_PROVIDER=environment")
            }
            let key = try SealKey.generate()
            return JSONResponse.encode(UnsealerKeyResponse(key: key.phrase(), validationHash: key.validationHash().description), status: .created)
        }
    }

    /// Vaults, secrets and scoped tokens.
    mutating func addResourceRoutes() {
        let api = self
        let core = self.core
        let maxSecretSize = self.maxSecretSize

        route([.POST], "/api/v1/vaults") { request, _ in
            let token = try await api.authorize(request)
            guard token.has(.write), token.isRoot || token.vaultIDs == nil else {
                throw VaultError(.permissionDenied, "permission denied: creating a vault needs the root token or an unscoped token with the 'write' capability")
            }
            let body = try RequestBody(request.body, allowEmpty: false)
            try body.refuse(["id", "owner", "created_at"], reason: "the vault sets it")
            let vault = try await core.createVault(
                name: try body.requiredString("name"), description: try body.string("description") ?? "",
                owner: token.isRoot ? "root" : token.accessor
            )
            return JSONResponse.encode(vault, status: .created)
        }
        route([.GET], "/api/v1/vaults") { request, _ in
            let token = try await api.authorize(request)
            let page = try Page(request)
            return page.response(try await core.listVaults().filter { token.reaches($0) })
        }
        route([.GET], "/api/v1/vaults/:id") { request, parameters in
            JSONResponse.encode(try await api.authorize(request, vault: parameters["id"]!, .read))
        }
        route([.DELETE], "/api/v1/vaults/:id") { request, parameters in
            let token = try await api.authorize(request)
            let vault = try await api.reachable(parameters["id"]!, by: token)
            guard token.isRoot || (token.has(.write) && token.accessor != nil && vault.owner == token.accessor) else {
                throw VaultError(.permissionDenied, "permission denied: only the vault's owner (the token that created it) or the root token deletes a vault")
            }
            try await core.deleteVault(vault.id)
            return JSONResponse.noContent()
        }
        route([.POST], "/api/v1/vaults/:id/secrets") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .write)
            let body = try RequestBody(request.body, allowEmpty: false)
            try body.refuse(["vault_id", "id", "created_at"], reason: "the vault sets it")
            let name = try body.requiredString("name")
            guard let value = try body.string("value") else { throw VaultError(.unprocessable, "'value' is required") }
            guard value.utf8.count <= maxSecretSize else {
                throw VaultError(.tooLarge, "value: \(value.utf8.count) bytes is larger than the \(maxSecretSize)-byte limit (max_secret_size)")
            }
            let secret = try await core.createSecret(
                vaultID: vault.id, name: name, type: try body.string("type") ?? "generic",
                description: try body.string("description") ?? "", value: value
            )
            return JSONResponse.encode(secret, status: .created)
        }
        route([.GET], "/api/v1/vaults/:id/secrets") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .read)
            let page = try Page(request)
            return page.response(try await core.listSecrets(vaultID: vault.id))
        }
        route([.GET], "/api/v1/vaults/:id/secrets/:secret") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .read)
            return JSONResponse.encode(try await core.secret(vaultID: vault.id, secretID: parameters["secret"]!))
        }
        route([.DELETE], "/api/v1/vaults/:id/secrets/:secret") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .write)
            try await core.deleteSecret(vaultID: vault.id, secretID: parameters["secret"]!)
            return JSONResponse.noContent()
        }
    }
}
