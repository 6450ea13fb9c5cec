import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// unseal-agent with seal "azurekeyvault" against the Azure fake (proven in AzureAuthTests
/// against Microsoft's clients), unsealing a real vaultd.
@Suite("unseal-agent with Azure Key Vault", .enabled(if: TestEnvironment.shouldRunOracleTests("cryptography"), "needs the azure oracles: run scripts/test"))
struct AzureAgentTests {
    static func config(_ fake: AzureFake, vault: String, directory: URL, seal: String, initEnabled: Bool = false) throws -> String {
        let path = directory.appendingPathComponent("agent-\(UUID().uuidString.prefix(6)).hcl").path
        try """
            vault { address = "\(vault)" }
            seal "azurekeyvault" {
              vault_uri = "\(fake.httpsURL)"
              ca_cert   = "\(fake.caCert)"
              disable_challenge_resource_verification = true
            \(seal)
            }
            init  { enabled = \(initEnabled) }
            retry { initial = "50ms"  max = "500ms" }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func startAgent(_ config: String, _ fake: AzureFake, kind: String, log: URL) throws -> ChildProcess {
        var environment = fake.environment(for: kind)
        for name in ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"] where environment[name] == nil {
            environment[name] = ""  // the test runner's own environment must not pick the kind
        }
        return try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config], logPath: log.path, environment: environment)
    }

    static func unsealed(_ vaultd: VaultdHarness) async throws -> Bool {
        let client = try vaultd.client()
        return await eventually { (try? await client.sealStatus())?.sealed == false }
    }

    @Test("fetch mode, first boot with an empty Key Vault: the secret is created, vaultd initialised and unsealed; after a restart the same secret unseals it", arguments: AzureFake.credentialKinds)
    func fetchLifecycle(kind: String) async throws {
        let fake = try await AzureFake.start()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let config = try Self.config(fake, vault: vaultd.address, directory: vaultd.directory, seal: #"  secret_name = "vaultd-unseal""#, initEnabled: true)
        let agent = try Self.startAgent(config, fake, kind: kind, log: vaultd.directory.appendingPathComponent("agent.log"))
        #expect(try await Self.unsealed(vaultd), "\(agent.log)")
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(try await Self.unsealed(vaultd), "\(agent.log)")
        await agent.stop()
        let log = try await fake.log()
        #expect(log.filter { $0["op"] as? String == "secrets/set" && $0["authorised"] as? Bool == true }.count == 1, "\(log)")
        let identities = Set(log.compactMap { $0["who"] as? String })
        #expect(identities == [fake.identity(for: kind)], "\(identities)")
        #expect(!agent.log.contains("error"), "\(agent.log)")
    }

    @Test("unwrap mode: wrap --seal azurekeyvault, then the agent unwraps and unseals", arguments: AzureFake.credentialKinds)
    func unwrapMode(kind: String) async throws {
        let fake = try await AzureFake.start()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("seal-azure.enc").path
        let config = try Self.config(fake, vault: vaultd.address, directory: vaultd.directory, seal: """
              key_name        = "unseal-wrap"
              ciphertext_path = "\(ciphertext)"
            """)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(fake.environment(for: kind)) { $1 }
        let wrap = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["wrap", "--config", config, "--seal", "azurekeyvault"], input: phrase + "\n", environment: environment)
        #expect(wrap.status == 0, "\(wrap.stdout)\(wrap.stderr)")
        let envelope = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ciphertext))) as? [String: Any]
        #expect(envelope?["mechanism"] as? String == "azurekeyvault")
        #expect(envelope?["algorithm"] as? String == "RSA-OAEP-256")
        let agent = try Self.startAgent(config, fake, kind: kind, log: vaultd.directory.appendingPathComponent("agent.log"))
        #expect(try await Self.unsealed(vaultd), "\(agent.log)")
        await agent.stop()
        #expect(!agent.log.contains(phrase))
        let unwraps = try await fake.log().filter { $0["op"] as? String == "keys/unwrapkey" && $0["authorised"] as? Bool == true }
        #expect(!unwraps.isEmpty && unwraps.allSatisfy { $0["who"] as? String == fake.identity(for: kind) }, "\(unwraps)")
    }

    @Test("a 500 on the secret read never creates a new secret: the agent retries and unseals with the existing one")
    func transientReadNeverReplaces() async throws {
        let fake = try await AzureFake.start()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        try await vaultd.stop(signal: SIGKILL)
        let config = try Self.config(fake, vault: vaultd.address, directory: vaultd.directory, seal: #"  secret_name = "vaultd-unseal""#, initEnabled: true)
        // Store the secret through the agent's own path (wrap), then inject failures on reads.
        var environment = ProcessInfo.processInfo.environment
        environment.merge(fake.environment(for: "client_secret")) { $1 }
        let wrap = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["wrap", "--config", config, "--seal", "azurekeyvault"], input: phrase + "\n", environment: environment)
        #expect(wrap.status == 0, "\(wrap.stderr)")
        try await fake.control(["faults": [["op": "secrets/get", "status": 500], ["op": "secrets/get", "status": 503], ["op": "secrets/get", "status": 500]], "clear_log": true])
        try await vaultd.start()
        let agent = try Self.startAgent(config, fake, kind: "client_secret", log: vaultd.directory.appendingPathComponent("agent.log"))
        #expect(try await Self.unsealed(vaultd), "\(agent.log)")
        await agent.stop()
        let log = try await fake.log()
        #expect(log.filter { $0["fault"] != nil }.count == 3, "\(log)")
        #expect(!log.contains { $0["op"] as? String == "secrets/set" }, "a transient error led to a new secret: \(log)")
    }

    @Test("403: one clear error naming the missing permission; the vault stays sealed")
    func forbidden() async throws {
        let fake = try await AzureFake.start()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        _ = try await vaultd.client().initializeRecorded()
        try await fake.control(["forbid": ["secrets/get"]])
        let config = try Self.config(fake, vault: vaultd.address, directory: vaultd.directory, seal: #"  secret_name = "vaultd-unseal""#)
        let agent = try Self.startAgent(config, fake, kind: "client_secret", log: vaultd.directory.appendingPathComponent("agent.log"))
        #expect(await eventually { agent.log.contains("denied") })
        try await Task.sleep(for: .seconds(2))
        await agent.stop()
        let lines = agent.log.split(separator: "\n").filter { $0.contains("denied") }
        #expect(lines.count == 1, "\(agent.log)")
        #expect(lines.first?.contains("secrets get") == true)
        #expect(try await vaultd.client().sealStatus().sealed == true)
    }

    @Test("environment activation: a missing setting is named by its variable; http:// is refused off loopback")
    func environmentActivation() async throws {
        let agent = TestEnvironment.executable("unseal-agent")
        var environment = ProcessInfo.processInfo.environment
        environment["VAULT_ADDR"] = "unix:///nonexistent/vaultd.sock"
        environment["SEAL_UNSEAL_PROVIDER"] = "azure_key_vault"
        environment["SEAL_UNSEAL_VAULT_NAME"] = "my-kv"
        let noSecret = try await TestEnvironment.run(agent, ["check"], environment: environment)
        #expect(noSecret.status != 0)
        #expect(noSecret.stderr.contains("SEAL_UNSEAL_SECRET_NAME"), "\(noSecret.stderr)")
        environment["SEAL_UNSEAL_PROVIDER"] = nil
        environment["VAULT_SEAL_TYPE"] = "azurekeyvault"
        environment["SEAL_UNSEAL_VAULT_NAME"] = nil
        let noVault = try await TestEnvironment.run(agent, ["check"], environment: environment)
        #expect(noVault.stderr.contains("VAULT_AZUREKEYVAULT_VAULT_NAME"), "\(noVault.stderr)")
        environment["VAULT_AZUREKEYVAULT_VAULT_NAME"] = "my-kv"
        let noKey = try await TestEnvironment.run(agent, ["check"], environment: environment)
        #expect(noKey.stderr.contains("VAULT_AZUREKEYVAULT_KEY_NAME"), "\(noKey.stderr)")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("azure-config-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let config = directory.appendingPathComponent("agent.hcl").path
        try """
            vault { address = "unix:///nonexistent/vaultd.sock" }
            seal "azurekeyvault" {
              vault_uri   = "http://kv.example.com"
              secret_name = "s"
            }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let plain = try await TestEnvironment.run(agent, ["check", "--config", config])
        #expect(plain.status != 0)
        #expect(plain.stderr.contains("agent.hcl:3:"), "\(plain.stderr)")
        #expect(plain.stderr.contains("vault_uri"))
    }
}
