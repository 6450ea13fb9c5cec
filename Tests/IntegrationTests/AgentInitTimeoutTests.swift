import Foundation
import HTTPTransport
import TestSupport
import Testing
import VaultClient

/// OpenBao/Vault return the new shares only in the init response. Under load raft's set-up can
/// take longer than any ordinary request deadline (seen in CI: 10 s); an agent that gave up then
/// left a vault initialised with keys nobody had. The agent must wait for the answer.
@Suite("unseal-agent: a slow sys/init")
struct AgentInitTimeoutTests {
    @Test("a sys/init answering after 12 s: the agent waits, stores the shares, unseals")
    func slowInit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slow-init-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let socket = directory.appendingPathComponent("vault.sock").path
        let fake = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/slow_init_vault.py", arguments: [socket, "12"])
        _ = fake
        let shares = directory.appendingPathComponent("shares.json").path
        let config = directory.appendingPathComponent("agent.hcl").path
        try """
            vault { address = "unix://\(socket)" }
            seal "file" { path = "\(shares)" }
            init {
              enabled          = true
              secret_shares    = 3
              secret_threshold = 2
            }
            retry { initial = "50ms"  max = "1s" }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config], logPath: directory.appendingPathComponent("agent.log").path)
        let client = VaultClient(address: try VaultAddress("unix://\(socket)"), timeout: .seconds(5))
        #expect(await eventually(.seconds(40)) { (try? await client.sealStatus())?["sealed"] as? Bool == false }, "\(agent.log)")
        await agent.stop()
        let state = try await client.send("GET", "/fake/state").json as? [String: Any]
        let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: shares))) as? [String]
        #expect(stored != nil && stored == state?["keys"] as? [String], "stored \(String(describing: stored)); the vault made \(String(describing: state?["keys"]))")
        #expect(state?["inits"] as? Int == 1)
        #expect(!agent.log.contains("timed out"), "\(agent.log)")
    }
}
