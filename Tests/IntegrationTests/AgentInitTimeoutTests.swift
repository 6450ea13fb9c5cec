import Foundation
import HTTPTransport
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

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
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        await agent.stop()
        let state = try await client.send("GET", "/fake/state").json as? [String: Any]
        let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: shares))) as? [String]
        #expect(stored != nil && stored == state?["keys"] as? [String], "stored \(String(describing: stored)); the vault made \(String(describing: state?["keys"]))")
        #expect(state?["inits"] as? Int == 1)
        #expect(!agent.log.contains("timed out"), "\(agent.log)")
    }

    @Test("the init custodian: survives SIGTERM while OpenBao initialises and stores the shares; errors are one JSON line with their class")
    func custodian() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("custodian-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let socket = directory.appendingPathComponent("vault.sock").path
        let fake = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/slow_init_vault.py", arguments: [socket, "3"])
        _ = fake
        let shares = directory.appendingPathComponent("shares.json").path
        let config = directory.appendingPathComponent("agent.hcl").path
        try """
            vault { address = "unix://\(socket)"  cluster = "c" }
            vault { address = "unix://\(directory.path)/nothing-listens.sock"  cluster = "c" }
            seal "file" { path = "\(shares)" }
            init { enabled = true }
            retry { initial = "50ms"  max = "1s" }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let agentBinary = TestEnvironment.executable("unseal-agent")
        let body = #"{"secret_shares": 3, "secret_threshold": 2}"#

        // SIGTERM in the middle of a 3 s init: ignored; the shares are stored and counted. The
        // test runner's children inherit its blocked SIGTERM, so Python unblocks it before exec:
        // without the custodian's own SIG_IGN the signal would kill it.
        let custodian = Process()
        custodian.executableURL = URL(fileURLWithPath: try #require(TestEnvironment.oraclePython))
        custodian.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM}); os.execv(sys.argv[1], sys.argv[1:])",
                               agentBinary, "init-custodian", "--config", config, "--target", "unix://\(socket)"]
        let input = Pipe(), output = Pipe()
        custodian.standardInput = input
        custodian.standardOutput = output
        custodian.standardError = FileHandle.nullDevice
        try custodian.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
        // SIGTERM once the custodian has set its dispositions (a loaded machine may take a
        // while to start Python and exec it), well inside the 3 s init.
        let pid = custodian.processIdentifier
        try #require(await eventually { Self.ignoresSIGTERM(pid) }, "the custodian never ignored SIGTERM")
        kill(pid, SIGTERM)
        let collector = PipeCollector(output.fileHandleForReading)
        defer { if !custodian.hasEnded { ChildExit.kill(custodian.processIdentifier) } }
        try #require(await eventually { custodian.hasEnded && collector.isFinished }, "the custodian did not finish within 60 s")
        let answer = Data(collector.text.utf8)
        #expect(custodian.exitStatus == 0)
        #expect(String(decoding: answer, as: UTF8.self) == "{\"shares\":3}\n")
        let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: shares))) as? [String]
        #expect(stored?.count == 3)

        // The other node of the cluster, now that its shares are stored: it joins — no second
        // sys/init is sent (nothing listens there, so one would fail).
        let joining = try await TestEnvironment.run(agentBinary, ["init-custodian", "--config", config, "--target", "unix://\(directory.path)/nothing-listens.sock"], input: body)
        #expect(joining.status == 0 && joining.stdout == "{\"joining\":true}\n", "\(joining.stdout)")

        // A target the configuration does not name: needs a fix. An unreachable one with nothing
        // stored yet: retryable.
        let lone = directory.appendingPathComponent("lone.hcl").path
        try """
            vault { address = "unix://\(directory.path)/nothing-listens.sock" }
            seal "file" { path = "\(directory.appendingPathComponent("lone-shares.json").path)" }
            init { enabled = true }
            """.write(toFile: lone, atomically: true, encoding: .utf8)
        for (configuration, target, errorClass, text) in [(config, "unix:///elsewhere.sock", "needsFix", "no vault unix:///elsewhere.sock in the configuration"),
                                                          (lone, "unix://\(directory.path)/nothing-listens.sock", "retryable", "initialising unix://")] {
            let result = try await TestEnvironment.run(agentBinary, ["init-custodian", "--config", configuration, "--target", target], input: body)
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String]
            #expect(result.status == 1)
            #expect(json?["class"] == errorClass && json?["error"]?.contains(text) == true, "\(result.stdout)")
        }
    }

    /// Whether `/proc/PID/status` shows SIGTERM among the ignored signals.
    static func ignoresSIGTERM(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigIgn:") }),
              let mask = UInt64(line.dropFirst("SigIgn:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (1 << (UInt64(SIGTERM) - 1)) != 0
    }
}
