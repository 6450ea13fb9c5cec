import AzureAuth
import SealSourceCore
import LeanFoundation
import HCL
import SealSources

extension AgentConfiguration {
    /// `seal "azurekeyvault"` from a block, or (with `nil`) from the environment: Vault's
    /// `VAULT_SEAL_TYPE=azurekeyvault` (`VAULT_AZUREKEYVAULT_VAULT_NAME`, `VAULT_AZUREKEYVAULT_KEY_NAME`:
    /// unwrap mode) or Provide's `SEAL_UNSEAL_PROVIDER=azure_key_vault` (`SEAL_UNSEAL_VAULT_NAME`,
    /// `SEAL_UNSEAL_SECRET_NAME`: fetch mode), with `AZURE_*` for the identity.
    static func azureKeyVaultSource(_ body: ConfigBody?, environment: [String: String], warnings: inout [String]) throws -> AzureKeyVaultSealSource {
        func env(_ names: String...) -> String? { names.lazy.compactMap { environment[$0] }.first { !$0.isEmpty } }
        func fail(_ setting: String, _ message: String, variable: String? = nil) -> Error {
            if let body { return body.error(setting, message) }
            return AgentError("\(variable ?? setting): \(message)")
        }
        if let body {
            try body.checkKeys(["vault_name", "vault_uri", "secret_name", "key_name", "ciphertext_path", "tenant_id", "client_id",
                                "client_secret", "client_certificate_path", "object_id", "msi_res_id", "environment", "authority_host",
                                "ca_cert", "disable_challenge_resource_verification", "request_timeout", "priority"])
        }
        let cloudName = try body?.string("environment") ?? env("AZURE_ENVIRONMENT") ?? "AzurePublicCloud"
        guard let cloud = AzureCloud.named(cloudName) else {
            throw fail("environment", "expected AzurePublicCloud, AzureUSGovernmentCloud or AzureChinaCloud; got \"\(cloudName)\"", variable: "AZURE_ENVIRONMENT")
        }

        let vaultURI: String
        if let uri = try body?.string("vault_uri") {
            vaultURI = uri
        } else if let name = try body?.string("vault_name") ?? env("VAULT_AZUREKEYVAULT_VAULT_NAME", "SEAL_UNSEAL_VAULT_NAME", "AZURE_KEYVAULT_NAME") {
            vaultURI = "https://\(name).\(cloud.vaultSuffix)"
        } else {
            throw fail("vault_name", "is required (or vault_uri)", variable: "VAULT_AZUREKEYVAULT_VAULT_NAME")
        }
        try checkScheme(vaultURI, setting: "vault_uri", body: body, warnings: &warnings)
        let authority = try body?.string("authority_host") ?? env("AZURE_AUTHORITY_HOST") ?? cloud.authorityHost
        try checkScheme(authority, setting: "authority_host", body: body, warnings: &warnings)

        let mode: AzureKeyVaultSealSource.Mode
        let secretName = try body?.string("secret_name") ?? (body == nil ? env("SEAL_UNSEAL_SECRET_NAME") : nil)
        let keyName = try body?.string("key_name") ?? (body == nil ? env("VAULT_AZUREKEYVAULT_KEY_NAME") : nil)
        switch (secretName, keyName) {
        case (let secret?, nil):
            mode = .fetch(secretName: secret)
        case (nil, let key?):
            let path = try body?.string("ciphertext_path") ?? env("UNSEAL_AGENT_CIPHERTEXT_PATH") ?? "/var/lib/unseal-agent/seal.enc"
            mode = .unwrap(keyName: key, ciphertextPath: path)
        case (.some, .some):
            throw fail("key_name", "give either secret_name (fetch mode) or key_name with ciphertext_path (unwrap mode), not both")
        case (nil, nil):
            if body == nil {
                throw AgentError("set SEAL_UNSEAL_SECRET_NAME (fetch mode) or VAULT_AZUREKEYVAULT_KEY_NAME (unwrap mode) for the azurekeyvault seal")
            }
            throw fail("secret_name", "is required (fetch mode), or key_name with ciphertext_path (unwrap mode)")
        }

        let settings = AzureCredentialChain.Settings(
            tenantID: try body?.string("tenant_id") ?? env("AZURE_TENANT_ID", "SEAL_UNSEAL_VAULT_TENANT_ID"),
            clientID: try body?.string("client_id"),
            clientSecret: try body?.string("client_secret"),
            clientCertificatePath: try body?.string("client_certificate_path"),
            objectID: try body?.string("object_id"), resourceID: try body?.string("msi_res_id"),
            authorityHost: authority.hasSuffix("/") ? String(authority.dropLast()) : authority,
            caBundle: try body?.string("ca_cert")
        )
        let chain: AzureCredentialChain
        do { chain = try AzureCredentialChain(settings: settings, environment: environment) } catch {
            throw fail("tenant_id", error.message)
        }
        let timeout = try body.flatMap { try duration("request_timeout", in: $0) } ?? .seconds(10)
        let client = KeyVaultClient(vaultURI: vaultURI, credentials: chain.provider,
                                    verifyChallengeResource: !(try body?.bool("disable_challenge_resource_verification") ?? false),
                                    caBundle: settings.caBundle, timeout: timeout)
        return AzureKeyVaultSealSource(mode: mode, client: client, credentialName: chain.provider.name, skippedCredentials: chain.skipped,
                                       priority: try body?.int("priority") ?? 100)
    }

    /// `https://` always; `http://` only to a loopback address (tests, local emulators), with a warning.
    private static func checkScheme(_ url: String, setting: String, body: ConfigBody?, warnings: inout [String]) throws {
        if url.hasPrefix("https://") { return }
        let host = URL(string: url)?.host ?? ""
        if url.hasPrefix("http://"), ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host) {
            warnings.append("seal \"azurekeyvault\": \(setting) \(url) is plain HTTP; accepted only because it is a loopback address")
            return
        }
        let message = "must be an https:// URL (http:// only for a loopback address); got \"\(url)\""
        if let body { throw body.error(setting, message) }
        throw AgentError("\(setting): \(message)")
    }
}
