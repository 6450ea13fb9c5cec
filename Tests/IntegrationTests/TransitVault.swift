import Foundation
import HTTPTransport
import TestSupport

/// A real OpenBao server (`bao server -dev`, in memory) with the Transit engine mounted at
/// `transit/`, a key `unseal`, and a policy `unseal-agent` that grants exactly what the seal
/// needs: `update` on `transit/encrypt/unseal` and `transit/decrypt/unseal`.
///
/// With `tls`, the agent's address (`url`) is a second listener that speaks only TLS and demands
/// a client certificate; its server certificate names only `transit.internal` (see
/// `Oracle/tls_certificates.py`, whose files are in `certificates`). With `namespace`, the
/// engine, key, policy and tokens live in that namespace, and the root namespace has no
/// `transit/` at all.
final class TransitVault: @unchecked Sendable {
    let directory: URL
    /// Where the agent reaches Transit: the TLS listener with `tls`.
    let url: String
    /// The plain listener the tests set the engine up through.
    let setupURL: String
    let namespace: String?
    let process: ChildProcess
    let rootToken = "transit-root-\(UUID().uuidString)"
    var certificates: URL { directory.appendingPathComponent("tls") }

    static let policy = """
        path "transit/encrypt/unseal" { capabilities = ["update"] }
        path "transit/decrypt/unseal" { capabilities = ["update"] }
        """

    init(tls: Bool = false, namespace: String? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("transit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.namespace = namespace
        // Every listener of the dev server has a cluster listener on the next port: both are
        // handed out.
        let port = freePortPair()
        setupURL = "http://127.0.0.1:\(port)"
        var arguments = ["server", "-dev", "-dev-root-token-id=\(rootToken)", "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token"]
        if tls {
            let tlsPort = freePortPair()
            let certificates = directory.appendingPathComponent("tls")
            let made = try await TestEnvironment.run(TestEnvironment.oraclePython!, [
                TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/tls_certificates.py").path, certificates.path])
            guard made.status == 0 else { throw TestSupportError("tls_certificates.py: \(made.stderr)") }
            let config = directory.appendingPathComponent("tls-listener.hcl")
            try """
                listener "tcp" {
                  address                            = "127.0.0.1:\(tlsPort)"
                  tls_cert_file                      = "\(certificates.appendingPathComponent("server.pem").path)"
                  tls_key_file                       = "\(certificates.appendingPathComponent("server-key.pem").path)"
                  tls_require_and_verify_client_cert = "true"
                  tls_client_ca_file                 = "\(certificates.appendingPathComponent("ca.pem").path)"
                }
                """.write(to: config, atomically: true, encoding: .utf8)
            arguments.append("-config=\(config.path)")
            url = "https://127.0.0.1:\(tlsPort)"
        } else {
            url = setupURL
        }
        SecretLedger.record([rootToken])
        // -dev-no-store-token: the dev server would otherwise write ~/.vault-token, which
        // vaultctl and bao read (VaultctlHabitsTests).
        process = try ChildProcess(OpenBaoHarness.bao, arguments,
                                   // Not *.log: dev mode prints its own root token and unseal key by design,
                                   // and the secret scan reads every kept log for the ledger's secrets
                                   // (the root token is recorded, so the agent's logs are checked for it).
                                   logPath: directory.appendingPathComponent("transit-bao.out").path,
                                   environment: ["HOME": directory.path])
        let url = self.setupURL
        let process = self.process
        let answered = await eventually {
            (try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: url + "/v1/sys/health")))?.status == 200 || !process.isRunning
        }
        guard answered, process.isRunning else {
            throw TestSupportError("OpenBao (dev) did not start: \(process.log.suffix(800))")
        }
        if let namespace { try await api("POST", "/v1/sys/namespaces/\(namespace)", inRoot: true) }
        try await api("POST", "/v1/sys/mounts/transit", ["type": "transit"])
        try await api("POST", "/v1/transit/keys/unseal", [:])
        try await api("PUT", "/v1/sys/policies/acl/unseal-agent", ["policy": Self.policy])
    }

    /// A root-token call, in `namespace` unless `inRoot`; throws on any status but 2xx.
    @discardableResult
    func api(_ method: String, _ path: String, _ body: [String: Any]? = nil, token: String? = nil, inRoot: Bool = false) async throws -> [String: Any] {
        var headers = [("X-Vault-Token", token ?? rootToken), ("Content-Type", "application/json")]
        if let namespace, !inRoot { headers.append(("X-Vault-Namespace", namespace)) }
        let response = try await HTTPClient.send(HTTPClientRequest(
            method: method, url: setupURL + path, headers: headers,
            body: try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) }))
        guard (200..<300).contains(response.status) else {
            throw TestSupportError("\(method) \(path): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        }
        return (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    /// A new token (recorded in the ledger).
    func token(policies: [String] = ["unseal-agent"], ttl: String = "1h", renewable: Bool = true) async throws -> String {
        let answer = try await api("POST", "/v1/auth/token/create", ["policies": policies, "ttl": ttl, "renewable": renewable])
        guard let token = (answer["auth"] as? [String: Any])?["client_token"] as? String else {
            throw TestSupportError("token create answered no client_token: \(answer.keys)")
        }
        SecretLedger.record([token])
        return token
    }

    /// The token's own view of itself, or nil once it is gone (expired or revoked).
    func lookup(_ token: String) async -> [String: Any]? {
        (try? await api("GET", "/v1/auth/token/lookup-self", token: token))?["data"] as? [String: Any]
    }

    func rotate() async throws { try await api("POST", "/v1/transit/keys/unseal/rotate") }

    func setMinimumDecryptionVersion(_ version: Int) async throws {
        try await api("POST", "/v1/transit/keys/unseal/config", ["min_decryption_version": version])
    }

    /// `seal "transit"` for an agent configuration.
    func sealBlock(token: String? = nil, tokenFile: String? = nil, ciphertext: String, address: String? = nil, extra: String = "") -> String {
        let credential = token.map { "token = \"\($0)\"" } ?? tokenFile.map { "token_file = \"\($0)\"" } ?? ""
        return """
            seal "transit" {
              address         = "\(address ?? url)"
              \(credential)
              key_name        = "unseal"
              mount_path      = "transit/"
              ciphertext_path = "\(ciphertext)"
              \(extra)
            }
            """
    }

    deinit {
        if process.isRunning { ChildExit.kill(process.pid) }
        SecretLedger.removeDirectory(directory)
    }
}
