import HCL
import LeanFoundation
import SealKit
import SealSourceCore
import TransitSeal

extension AgentConfiguration {
    /// The settings of `seal "transit"`, Vault's names; each may also come from the environment.
    static let transitKeys = ["address", "token", "token_file", "key_name", "mount_path", "namespace", "disable_renewal",
                              "tls_ca_cert", "tls_client_cert", "tls_client_key", "tls_server_name", "tls_skip_verify",
                              "ciphertext_path", "priority", "request_timeout"]

    /// `seal "transit"` from a block (or, with `nil`, from the environment alone). A setting the
    /// block leaves out is read from `VAULT_TRANSIT_SEAL_<NAME>` (`…_ADDRESS`, `…_TOKEN`,
    /// `…_KEY_NAME`, `…_MOUNT_PATH`, …). Vault's own seal reads the address and token from
    /// `VAULT_ADDR` and `VAULT_TOKEN`; here those name the vault the agent unseals, so the Transit
    /// vault has variables of its own.
    static func transitSource(_ body: ConfigBody?, environment: [String: String]) throws -> TransitSealSource {
        if let body { try body.checkKeys(transitKeys) }
        func setting(_ name: String) throws -> String? {
            if let value = try body?.string(name) { return value }
            let variable = environment["VAULT_TRANSIT_SEAL_\(name.uppercased())"]
            return variable?.isEmpty == false ? variable : nil
        }
        func invalid(_ name: String, _ message: String, code: HCLError.Code = .invalidValue) -> Error {
            if let body { return body.error(name, message, code: code) }
            return AgentError("VAULT_TRANSIT_SEAL_\(name.uppercased()): \(message)")
        }

        guard let address = try setting("address") else {
            throw invalid("address", "is required: the Transit vault, e.g. \"https://vault.example.com:8200\"", code: .missing)
        }
        guard address.hasPrefix("https://") || address.hasPrefix("http://") else {
            throw invalid("address", "expected https://host:port (or http:// on loopback); got \"\(address)\"")
        }
        guard let keyName = try setting("key_name"), !keyName.isEmpty else {
            throw invalid("key_name", "is required: the Transit key that wraps the seal key", code: .missing)
        }
        let mountPath = try setting("mount_path") ?? "transit/"
        guard !mountPath.split(separator: "/").isEmpty else { throw invalid("mount_path", "must name the engine's mount, e.g. \"transit/\"") }

        let token: TransitClient.Token
        switch (try setting("token"), try setting("token_file")) {
        case (.some, .some):
            throw invalid("token_file", "give token or token_file, not both")
        case (.some(let value), nil):
            do { token = .value(try CloakedText(value.trimmed)) } catch { throw invalid("token", "cannot be kept: \(error.reason)") }
        case (nil, .some(let path)):
            guard FileManager.default.isReadableFile(atPath: path) else { throw invalid("token_file", "\(path) cannot be read") }
            token = .file(path)
        case (nil, nil):
            throw invalid("token", "is required (or token_file): a token whose policy grants 'update' on <mount_path>/encrypt/<key_name> and <mount_path>/decrypt/<key_name>", code: .missing)
        }

        if try body?.bool("tls_skip_verify") == true || ["1", "true"].contains(environment["VAULT_TRANSIT_SEAL_TLS_SKIP_VERIFY"]?.lowercased() ?? "") {
            throw invalid("tls_skip_verify", "is not supported: the agent always verifies TLS. Point tls_ca_cert at the CA that signed the Transit vault's certificate (and tls_server_name at the name it carries)")
        }
        let caCert = try setting("tls_ca_cert")
        if let caCert, !FileManager.default.isReadableFile(atPath: caCert) { throw invalid("tls_ca_cert", "\(caCert) cannot be read") }
        var clientCertificate: (certificatePath: String, keyPath: String)?
        switch (try setting("tls_client_cert"), try setting("tls_client_key")) {
        case (.some(let certificate), .some(let key)):
            for (name, path) in [("tls_client_cert", certificate), ("tls_client_key", key)] where !FileManager.default.isReadableFile(atPath: path) {
                throw invalid(name, "\(path) cannot be read")
            }
            clientCertificate = (certificate, key)
        case (.some, nil): throw invalid("tls_client_key", "is required with tls_client_cert", code: .missing)
        case (nil, .some): throw invalid("tls_client_cert", "is required with tls_client_key", code: .missing)
        case (nil, nil): clientCertificate = nil
        }

        let client = TransitClient(
            address: address, mountPath: mountPath, keyName: keyName, namespace: try setting("namespace"), token: token,
            caBundlePath: caCert, clientCertificate: clientCertificate, serverName: try setting("tls_server_name"),
            timeout: try body.flatMap { try Self.duration("request_timeout", in: $0) } ?? .seconds(10))
        let disableRenewal = try body?.bool("disable_renewal")
            ?? ["1", "true"].contains(environment["VAULT_TRANSIT_SEAL_DISABLE_RENEWAL"]?.lowercased() ?? "")
        let ciphertextPath = try body?.string("ciphertext_path") ?? environment["UNSEAL_AGENT_CIPHERTEXT_PATH"] ?? "/var/lib/unseal-agent/transit.enc"
        return TransitSealSource(client: client, ciphertextPath: ciphertextPath, renewToken: !disableRenewal, priority: try body?.int("priority") ?? 100)
    }
}
