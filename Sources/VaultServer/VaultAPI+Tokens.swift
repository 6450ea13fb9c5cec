import Foundation
import HTTPServerKit
import VaultCore
import VaultWire

/// Tokens: vaultd's `POST /api/v1/tokens`, and Vault's `auth/token/*` shapes so `bao login`,
/// `bao token lookup|create|revoke` and hvac work.
///
/// vaultd's tokens carry capabilities (`read`, `write`, `sign`, `encrypt`) and the vaults they
/// reach rather than policies; through Vault's API the capabilities are the policy names
/// (`bao token create -policy=read -policy=sign`) and the vaults go in `meta.vault_ids`.
extension VaultAPI {
    mutating func addTokenRoutes() {
        let core = self.core
        let api = self
        route([.GET], "/v1/auth/token/lookup-self") { request, _ in
            let record = try await core.authenticate(Self.token(of: request))
            return JSONResponse.encode(Self.lookup(record, token: Self.token(of: request) ?? ""))
        }
        route([.PUT, .POST], "/v1/auth/token/lookup") { request, _ in
            let caller = try await core.authenticate(Self.token(of: request))
            let target = try RequestBody(request.body, allowEmpty: false).requiredString("token")
            guard caller.isRoot || target == Self.token(of: request) else {
                throw VaultError(.permissionDenied, "permission denied: only the root token looks up other tokens")
            }
            return JSONResponse.encode(Self.lookup(try await core.authenticate(target), token: target))
        }
        route([.PUT, .POST], "/v1/auth/token/revoke") { request, _ in
            let caller = try await core.authenticate(Self.token(of: request))
            let target = try RequestBody(request.body, allowEmpty: false).requiredString("token")
            guard caller.isRoot || target == Self.token(of: request) else {
                throw VaultError(.permissionDenied, "permission denied: only the root token revokes other tokens")
            }
            try await core.revokeToken(target)
            return JSONResponse.noContent()
        }
        route([.PUT, .POST], "/v1/auth/token/revoke-self") { request, _ in
            let token = Self.token(of: request)
            _ = try await core.authenticate(token)
            try await core.revokeToken(token ?? "")
            return JSONResponse.noContent()
        }
        route([.POST], "/api/v1/tokens") { request, _ in
            let caller = try await api.authorize(request)
            guard caller.isRoot else { throw VaultError(.permissionDenied, "permission denied: creating tokens needs the root token") }
            let body = try RequestBody(request.body, allowEmpty: false)
            guard let names = try body.strings("capabilities"), !names.isEmpty else {
                throw VaultError(.unprocessable, "'capabilities' is required: some of \(Capability.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let record = try await Self.scopedToken(capabilities: names, setting: "capabilities", vaultIDs: try body.strings("vault_ids"),
                                                    displayName: try body.string("display_name"), core: core)
            let created = try await core.createToken(record)
            return JSONResponse.encode(TokenCreatedResponse(
                token: created, accessor: record.accessor ?? "", capabilities: (record.capabilities ?? []).map(\.rawValue),
                displayName: record.displayName, vaultIDs: record.vaultIDs
            ), status: .created)
        }
        route([.POST, .PUT], "/v1/auth/token/create") { request, _ in
            let caller = try await api.authorize(request)
            guard caller.isRoot else { throw VaultError(.permissionDenied, "permission denied: creating tokens needs the root token") }
            let body = try RequestBody(request.body)
            try Self.refuseTokenSettingsVaultdLacks(body)
            let policies = (try body.strings("policies") ?? []).filter { $0 != "default" }
            let record: TokenRecord
            if policies.contains("root") {
                guard policies == ["root"] else { throw VaultError(.badRequest, "policies: root cannot be combined with other policies") }
                record = TokenRecord(policies: ["root"], vaultIDs: nil, accessor: UUID().uuidString.lowercased(), createdAt: Date(),
                                     displayName: try body.string("display_name").flatMap { $0.isEmpty ? nil : $0 } ?? "root")
            } else {
                guard !policies.isEmpty else {
                    throw VaultError(.badRequest, "policies: give the token's capabilities as policies (some of \(Capability.allCases.map(\.rawValue).joined(separator: ", ")), or root); vaultd has no default policy")
                }
                let meta = try body.stringMap("meta")
                let vaultIDs = meta?["vault_ids"].map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
                record = try await Self.scopedToken(capabilities: policies, setting: "policies", vaultIDs: vaultIDs,
                                                    displayName: try body.string("display_name"), core: core)
            }
            let created = try await core.createToken(record)
            return JSONResponse.encode(TokenCreateResponse(auth: .init(
                clientToken: created, accessor: record.accessor ?? "", policies: Self.policies(of: record),
                metadata: record.vaultIDs.map { ["vault_ids": $0.joined(separator: ",")] }
            )))
        }
    }

    /// The policies Vault's API shows for `record`: `root`, or its capabilities.
    static func policies(of record: TokenRecord) -> [String] {
        record.isRoot ? ["root"] : (record.capabilities ?? []).map(\.rawValue).sorted()
    }

    /// A scoped token's record from capability names (`setting` names where they came from in
    /// errors) and the vaults it reaches, each checked to exist.
    static func scopedToken(capabilities names: [String], setting: String, vaultIDs: [String]?, displayName: String?, core: VaultCore) async throws -> TokenRecord {
        let capabilities = try names.map { name throws(VaultError) -> Capability in
            guard let capability = Capability(rawValue: name.lowercased()) else {
                throw VaultError(.unprocessable, "\(setting): '\(name)' is not one of \(Capability.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return capability
        }
        for id in vaultIDs ?? [] {
            do { _ = try await core.vault(id) } catch let error as VaultError where error.code == .notFound {
                throw VaultError(.unprocessable, "vault_ids: no vault \(id)")
            }
        }
        return TokenRecord(
            policies: ["scoped"], vaultIDs: vaultIDs, capabilities: capabilities, accessor: UUID().uuidString.lowercased(),
            createdAt: Date(), displayName: displayName.flatMap { $0.isEmpty ? nil : $0 } ?? "token"
        )
    }

    /// Vault's token settings that vaultd does not have, refused by name rather than ignored:
    /// a caller asking for a TTL must not believe its token expires.
    static func refuseTokenSettingsVaultdLacks(_ body: RequestBody) throws {
        for name in ["ttl", "explicit_max_ttl", "period", "lease"] {
            // Vault takes "1h" or 3600.
            let value = body.object[name]
            let asked = (value as? String).map { !["", "0", "0s"].contains($0) } ?? ((value as? Int).map { $0 != 0 } ?? false)
            if asked {
                throw VaultError(.badRequest, "\(name): vaultd's tokens do not expire; revoke a token to end it (leave \(name) out)")
            }
        }
        if let uses = try body.int("num_uses"), uses != 0 {
            throw VaultError(.badRequest, "num_uses: vaultd's tokens have no use limit (leave num_uses out)")
        }
        if let type = try body.string("type"), !type.isEmpty, type != "service" {
            throw VaultError(.badRequest, "type: vaultd makes service tokens only; got \(type)")
        }
        if let id = try body.string("id"), !id.isEmpty {
            throw VaultError(.badRequest, "id: vaultd makes every token itself (256 random bits); leave id out")
        }
    }

    /// A token as Vault describes it (`auth/token/lookup-self`): `bao login` stores what `id` says.
    static func lookup(_ record: TokenRecord, token: String) -> TokenLookupResponse {
        var data = TokenLookupResponse.Data(policies: policies(of: record), displayName: record.displayName)
        data.id = token
        data.accessor = record.accessor ?? ""
        data.creationTime = Int(record.createdAt.timeIntervalSince1970)
        data.creationTTL = 0
        data.issueTime = record.createdAt.formatted(.iso8601)
        data.explicitMaxTTL = 0
        data.ttl = 0
        data.numUses = 0
        data.orphan = true
        data.renewable = false
        data.path = record.isRoot ? "auth/token/root" : "auth/token/create"
        data.type = "service"
        data.entityID = ""
        return TokenLookupResponse(data: data)
    }
}
