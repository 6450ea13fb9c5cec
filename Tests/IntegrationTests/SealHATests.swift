import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// Seal HA: AWS KMS (moto, behind a proxy that can drop every call as a stopped endpoint does)
/// first, a key file second.
/// Autonomous init stores the key in both before the vault uses it; with KMS down the vault is
/// unsealed from the file and the failure shows in the metrics and the log; with KMS back the
/// agent returns to it.
@Suite("unseal-agent with several seal sources (seal HA)", .enabled(if: TestEnvironment.shouldRunOracleTests("moto"), "needs moto[server]: run scripts/test"))
struct SealHATests {
    static func metrics(_ port: Int) async -> String {
        guard let answer = try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics")) else { return "" }
        return String(decoding: answer.body, as: UTF8.self)
    }

    /// The value of the first sample whose line starts with `prefix`, or nil.
    static func sample(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    static func setDown(_ proxy: OracleServer, _ down: Bool) async throws {
        _ = try await HTTPClient.send(HTTPClientRequest(method: "POST", url: proxy.url + (down ? "/fault/down" : "/fault/up")))
    }

    @Test("KMS first, a file second: init stores in both only once KMS answers; KMS down → unsealed from the file, seen in metrics; KMS back → unsealed by KMS again")
    func kmsThenFile() async throws {
        let moto = try await MotoServer()
        let proxy = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/fault_proxy.py", arguments: [moto.url, ""])
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let ciphertext = vaultd.directory.appendingPathComponent("seal.enc").path
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let port = freePort()
        let config = try moto.agentConfig(
            vault: vaultd.address, ciphertext: ciphertext, keys: moto.agentKeys, endpoint: proxy.url,
            sealExtra: "priority = 1\n  request_timeout = \"2s\"", retry: "retry { initial = \"50ms\"  max = \"500ms\" }",
            extra: """
                seal "file" {
                  path     = "\(keyFile)"
                  priority = 2
                }
                init { enabled = true }
                telemetry { address = "127.0.0.1:\(port)" }
                source_check_interval = "300ms"
                """)

        // KMS down from the start: nothing is initialised and no key is written anywhere.
        try await Self.setDown(proxy, true)
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: AWSKMSTests.baseEnvironment)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        #expect(await eventually { agent.log.contains("class=retryable") }, "\(agent.log.suffix(1500))")
        #expect((try await client.sealStatus()).initialized == false)
        #expect(!FileManager.default.fileExists(atPath: keyFile) && !FileManager.default.fileExists(atPath: ciphertext))

        // KMS back: one key, in both stores, then init.
        try await Self.setDown(proxy, false)
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(2000))")
        let phrase = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        SecretLedger.record([phrase])
        let check = try await AWSKMSTests.agent(["check", "--config", config])
        #expect(check.status == 0 && AgentClusterTests.occurrences(of: "holds a key", in: check.stdout) == 2, "\(check.stdout)\(check.stderr)")

        // KMS down: a restart is unsealed from the file; metrics and the log say KMS failed.
        try await Self.setDown(proxy, true)
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(2000))")
        let awsName = "awskms:\(moto.keyID)"
        let fellBack = await eventually {
            let text = await Self.metrics(port)
            return Self.sample(text, "unseal_agent_source_up{source=\"\(awsName)\"}") == 0
                && (Self.sample(text, "unseal_agent_unseal_attempts_total{target=\"\(vaultd.address)\",source=\"file:\(keyFile)\",outcome=\"success\"}") ?? 0) >= 1
        }
        let afterFallback = await Self.metrics(port)
        #expect(fellBack, "\(afterFallback)")
        #expect(agent.log.contains("trying the next seal source"), "\(agent.log.suffix(2000))")
        // The periodic check has seen it too (source_check_interval), not only the unseal.
        #expect(await eventually { agent.log.contains("seal source check failed") }, "\(agent.log.suffix(2000))")

        // KMS back: the check sees it, and the next restart is unsealed by KMS, first again.
        try await Self.setDown(proxy, false)
        #expect(await eventually { Self.sample(await Self.metrics(port), "unseal_agent_source_up{source=\"\(awsName)\"}") == 1 })
        #expect(agent.log.contains("seal source answers again"), "\(agent.log.suffix(1500))")
        let before = Self.sample(await Self.metrics(port), "unseal_agent_unseal_attempts_total{target=\"\(vaultd.address)\",source=\"\(awsName)\",outcome=\"success\"}") ?? 0
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        let backToKMS = await eventually {
            (Self.sample(await Self.metrics(port), "unseal_agent_unseal_attempts_total{target=\"\(vaultd.address)\",source=\"\(awsName)\",outcome=\"success\"}") ?? 0) > before
        }
        let afterReturn = await Self.metrics(port)
        #expect(backToKMS, "\(afterReturn)")
        #expect(!agent.log.contains(phrase))
    }
}
