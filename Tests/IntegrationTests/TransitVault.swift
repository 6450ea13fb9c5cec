import Foundation
import HTTPTransport
import TestSupport

/// A real OpenBao server (`bao server -dev`, in memory) with the Transit engine mounted at
/// `transit/`, a key `unseal`, and a policy `unseal-agent` that grants exactly what the seal
/// needs: `update` on `transit/encrypt/unseal` and `transit/decrypt/unseal`.
final class TransitVault: @unchecked Sendable {
    let directory: URL
    let url: String
    let process: ChildProcess
    let rootToken: String

    static let policy = """
        path "transit/encrypt/unseal" { capabilities = ["update"] }
        path "transit/decrypt/unseal" { capabilities = ["update"] }
        """

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("transit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The dev server's cluster listener takes the next port: both are handed out.
        let port = freePortPair()
        url = "http://127.0.0.1:\(port)"
        rootToken = "transit-root-\(UUID().uuidString)"
        SecretLedger.record([rootToken])
        // -dev-no-store-token: the dev server would otherwise write ~/.vault-token, which
        // vaultctl and bao read (VaultctlHabitsTests).
        process = try ChildProcess(OpenBaoHarness.bao, ["server", "-dev", "-dev-root-token-id=\(rootToken)",
                                                        "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token"],
                                   // Not *.log: dev mode prints its own root token and unseal key by design,
                                   // and the secret scan reads every kept log for the ledger's secrets
                                   // (the root token is recorded, so the agent's logs are checked for it).
                                   logPath: directory.appendingPathComponent("transit-bao.out").path,
                                   environment: ["HOME": directory.path])
        let url = self.url
        let process = self.process
        let answered = await eventually {
            (try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: url + "/v1/sys/health")))?.status == 200 || !process.isRunning
        }
        guard answered, process.isRunning else {
            throw TestSupportError("OpenBao (dev) did not start: \(process.log.suffix(800))")
        }
        try await api("POST", "/v1/sys/mounts/transit", ["type": "transit"])
        try await api("POST", "/v1/transit/keys/unseal", [:])
        try await api("PUT", "/v1/sys/policies/acl/unseal-agent", ["policy": Self.policy])
    }

    /// A root-token call; throws on any status but 2xx.
    @discardableResult
    func api(_ method: String, _ path: String, _ body: [String: Any]? = nil, token: String? = nil) async throws -> [String: Any] {
        let response = try await HTTPClient.send(HTTPClientRequest(
            method: method, url: url + path, headers: [("X-Vault-Token", token ?? rootToken), ("Content-Type", "application/json")],
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
