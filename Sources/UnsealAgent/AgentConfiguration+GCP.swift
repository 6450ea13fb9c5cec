import GCPAuth
import HCL
import LeanFoundation

extension AgentConfiguration {
    static let gcpKeys = ["credentials", "project", "region", "key_ring", "crypto_key", "endpoint", "ciphertext_path", "priority", "request_timeout"]

    /// `seal "gcpckms"`: Vault's setting names, each also read from Vault's variables when the
    /// block leaves it out (`GOOGLE_CREDENTIALS`/`GOOGLE_APPLICATION_CREDENTIALS`,
    /// `GOOGLE_PROJECT`, `GOOGLE_REGION`, `VAULT_GCPCKMS_SEAL_KEY_RING`,
    /// `VAULT_GCPCKMS_SEAL_CRYPTO_KEY`). The identity: a credentials file if one is named
    /// (service account or workload identity federation), else the metadata server
    /// (`GCE_METADATA_HOST`, default metadata.google.internal).
    static func gcpSource(_ body: ConfigBody?, environment: [String: String]) throws -> GCPKMSSealSource {
        if let body { try body.checkKeys(gcpKeys) }
        func setting(_ name: String, _ variables: [String]) throws -> String? {
            if let value = try body?.string(name) { return value }
            return variables.lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        }
        func required(_ name: String, _ variables: [String], _ example: String) throws -> String {
            guard let value = try setting(name, variables), !value.isEmpty else {
                if let body { throw body.error(name, "is required, e.g. \(example)", code: .missing) }
                throw AgentError("\(variables.first ?? name) is required for seal \"gcpckms\", e.g. \(example)")
            }
            return value
        }
        let project = try required("project", ["GOOGLE_PROJECT"], "\"my-project\"")
        let region = try required("region", ["GOOGLE_REGION"], "\"global\" or \"europe-west1\"")
        let keyRing = try required("key_ring", ["VAULT_GCPCKMS_SEAL_KEY_RING"], "\"vault\"")
        let cryptoKey = try required("crypto_key", ["VAULT_GCPCKMS_SEAL_CRYPTO_KEY"], "\"unseal\"")
        let identity: GCPIdentity
        if let path = try setting("credentials", ["GOOGLE_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"]) {
            do { identity = try GCPIdentity.fromFile(path) } catch {
                if let body { throw body.error("credentials", error.message) }
                throw AgentError(error.message)
            }
        } else {
            identity = .metadataServer(host: environment["GCE_METADATA_HOST"] ?? "metadata.google.internal")
        }
        let timeout = try body.flatMap { try Self.duration("request_timeout", in: $0) } ?? .seconds(10)
        let endpoint = try body?.string("endpoint") ?? environment["GOOGLE_KMS_ENDPOINT"] ?? "https://cloudkms.googleapis.com"
        guard endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://") else {
            if let body { throw body.error("endpoint", "expected https://host; got \"\(endpoint)\"") }
            throw AgentError("GOOGLE_KMS_ENDPOINT: expected https://host; got \"\(endpoint)\"")
        }
        let client = CloudKMSClient(keyName: "projects/\(project)/locations/\(region)/keyRings/\(keyRing)/cryptoKeys/\(cryptoKey)",
                                    endpoint: endpoint, tokens: GCPTokenSource(identity: identity, timeout: timeout), timeout: timeout)
        let ciphertextPath = try body?.string("ciphertext_path") ?? environment["UNSEAL_AGENT_CIPHERTEXT_PATH"] ?? "/var/lib/unseal-agent/gcpckms.enc"
        return GCPKMSSealSource(client: client, ciphertextPath: ciphertextPath, priority: try body?.int("priority") ?? 100)
    }
}
