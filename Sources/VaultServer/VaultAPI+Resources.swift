import Foundation
import HTTPServerKit
import NIOHTTP1
import SealKit
import VaultCore

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
            if await core.isSealed { return JSONResponse.ok(await core.status().json, status: .accepted) }
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
            return JSONResponse.ok(["key": key.phrase(), "validation_hash": key.validationHash().description], status: .created)
        }
    }

    /// Vaults and secrets.
    mutating func addResourceRoutes() {
        let api = self
        let core = self.core

        route([.POST], "/api/v1/vaults") { request, _ in
            _ = try await api.authorize(request)
            let body = try RequestBody(request.body, allowEmpty: false)
            let vault = try await core.createVault(name: try body.requiredString("name"), description: try body.string("description") ?? "")
            return JSONResponse.encode(vault, status: .created)
        }
        route([.GET], "/api/v1/vaults") { request, _ in
            _ = try await api.authorize(request)
            let vaults = try await core.listVaults()
            return JSONResponse.encode(vaults, headers: ["X-Total-Results-Count": String(vaults.count)])
        }
        route([.GET], "/api/v1/vaults/:id") { request, parameters in
            _ = try await api.authorize(request)
            return JSONResponse.encode(try await core.vault(parameters["id"]!))
        }
        route([.DELETE], "/api/v1/vaults/:id") { request, parameters in
            _ = try await api.authorize(request)
            try await core.deleteVault(parameters["id"]!)
            return JSONResponse.noContent()
        }
        route([.POST], "/api/v1/vaults/:id/secrets") { request, parameters in
            _ = try await api.authorize(request)
            let body = try RequestBody(request.body, allowEmpty: false)
            let secret = try await core.createSecret(
                vaultID: parameters["id"]!,
                name: try body.requiredString("name"),
                type: try body.string("type") ?? "generic",
                description: try body.string("description") ?? "",
                value: try body.string("value") ?? { throw VaultError(.unprocessable, "'value' is required") }()
            )
            return JSONResponse.encode(secret, status: .created)
        }
        route([.GET], "/api/v1/vaults/:id/secrets") { request, parameters in
            _ = try await api.authorize(request)
            let secrets = try await core.listSecrets(vaultID: parameters["id"]!)
            return JSONResponse.encode(secrets, headers: ["X-Total-Results-Count": String(secrets.count)])
        }
        route([.GET], "/api/v1/vaults/:id/secrets/:secret") { request, parameters in
            _ = try await api.authorize(request)
            return JSONResponse.encode(try await core.secret(vaultID: parameters["id"]!, secretID: parameters["secret"]!))
        }
        route([.DELETE], "/api/v1/vaults/:id/secrets/:secret") { request, parameters in
            _ = try await api.authorize(request)
            try await core.deleteSecret(vaultID: parameters["id"]!, secretID: parameters["secret"]!)
            return JSONResponse.noContent()
        }
    }
}
