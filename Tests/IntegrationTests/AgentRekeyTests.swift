import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// `unseal-agent rekey`: several vaultd on one key file, a cluster on PostgreSQL, and kills of
/// the rekey command and of the vaults at random instants — every vault always unseals with the
/// current or the pending key, and a second run finishes what a killed one began.
@Suite("unseal-agent rekey")
struct AgentRekeyTests {
    struct Fleet {
        let vaults: [VaultdHarness]
        let directory: URL
        let keyFile: String
        let config: String
        let agent: ChildProcess
        let roots: [VaultClient]
        let secrets: [[(String, String, String)]]

        func remove() {
            kill(agent.pid, SIGKILL)
            for vault in vaults { vault.remove() }
            SecretLedger.removeDirectory(directory)
        }
    }

    /// `count` vaultd initialised by one agent from one key file, each with a few secrets.
    static func fleet(_ count: Int) async throws -> Fleet {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rekey-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var vaults = [VaultdHarness]()
        for _ in 0..<count {
            let vaultd = try VaultdHarness()
            try await vaultd.start()
            vaults.append(vaultd)
        }
        // One key for all, stored first, each vault initialised with it; the agent keeps them unsealed.
        let keyFile = directory.appendingPathComponent("seal-key").path
        let phrase = try SealKey.generate().phrase()
        SecretLedger.record([phrase])
        _ = FileManager.default.createFile(atPath: keyFile, contents: Data((phrase + "\n").utf8), attributes: [.posixPermissions: 0o600])
        var roots = [VaultClient]()
        var secrets = [[(String, String, String)]]()
        for vault in vaults {
            let answer = try await vault.client().initializeRecorded(InitRequest(sealKey: phrase))
            roots.append(try vault.client(token: answer.rootToken))
        }
        let config = directory.appendingPathComponent("agent.hcl").path
        try (vaults.map { "vault { address = \"\($0.address)\" }" }.joined(separator: "\n") + """

            seal "file" { path = "\(keyFile)" }
            retry { initial = "50ms"  max = "500ms" }
            log_level = "debug"
            """).write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentTests.startAgent(config, in: directory)
        for (index, vault) in vaults.enumerated() {
            let client = try vault.client()
            try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(2000))")
            secrets.append(try await VaultdRekeyTests.fill(roots[index], count: 3))
        }
        return Fleet(vaults: vaults, directory: directory, keyFile: keyFile, config: config, agent: agent, roots: roots, secrets: secrets)
    }

    static func rekey(_ fleet: Fleet) throws -> ChildProcess {
        try ChildProcess(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", fleet.config],
                         logPath: fleet.directory.appendingPathComponent("rekey-\(UUID().uuidString.prefix(6)).log").path)
    }

    /// Every vault restarted (kill -9) and unsealed by the running agent; every secret reads back.
    static func restartAndCheck(_ fleet: Fleet, _ context: String) async throws {
        for vault in fleet.vaults {
            try await vault.stop(signal: SIGKILL)
            try await vault.start()
        }
        for (index, vault) in fleet.vaults.enumerated() {
            let client = try vault.client()
            #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(context): vault \(index) was not unsealed\n\(fleet.agent.log.suffix(1500))")
            #expect(try await VaultdRekeyTests.unreadable(fleet.roots[index], fleet.secrets[index]) == 0, "\(context): vault \(index) lost secrets")
        }
    }

    @Test("three vaultd on one key file: rekeyed, the new key promoted, the pending file gone; after restarts the agent unseals all with the new key")
    func threeVaults() async throws {
        let fleet = try await Self.fleet(3)
        defer { fleet.remove() }
        let before = try String(contentsOfFile: fleet.keyFile, encoding: .utf8)
        let run = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", fleet.config])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.split(separator: "\n").filter { $0.hasPrefix("rekeyed ") }.count == 3, "\(run.stdout)")
        let after = try String(contentsOfFile: fleet.keyFile, encoding: .utf8)
        SecretLedger.record([after.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(after != before)
        let hash = try SealKey(parsing: after.trimmingCharacters(in: .whitespacesAndNewlines)).validationHash().description
        #expect(run.stdout.contains("validation_hash: \(hash)"))
        #expect(!FileManager.default.fileExists(atPath: fleet.keyFile + ".pending"))
        #expect(!run.stdout.contains(after.trimmingCharacters(in: .whitespacesAndNewlines)) && !run.stderr.contains(after.trimmingCharacters(in: .whitespacesAndNewlines)))
        try await Self.restartAndCheck(fleet, "after the rekey")
        // The old key opens none of them now.
        let refused = try await fleet.vaults[0].client().send("PUT", "/v1/sys/unseal", body: ["key": before.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(refused.status == 400)
    }

    @Test("kill -9 of the rekey command at 30 random instants (and of a vault in every third round) across three vaults: every vault unseals after each, and a last run finishes")
    func crashCampaign() async throws {
        let fleet = try await Self.fleet(3)
        defer { fleet.remove() }
        // How long one whole run takes here: the kills land anywhere from its start to its end.
        let clock = ContinuousClock.now
        let measured = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", fleet.config])
        try #require(measured.status == 0, "\(measured.stderr)")
        let window = Int((ContinuousClock.now - clock) / .microseconds(1))
        var stages = [String: Int]()
        for round in 0..<30 {
            let keyBefore = try String(contentsOfFile: fleet.keyFile, encoding: .utf8)
            let command = try Self.rekey(fleet)
            try await Task.sleep(for: .microseconds(Int.random(in: 0...window)))
            if round % 3 == 2 { try await fleet.vaults[round % 3].stop(signal: SIGKILL) }
            kill(command.pid, SIGKILL)
            await command.stop(signal: SIGKILL)
            let pending = FileManager.default.fileExists(atPath: fleet.keyFile + ".pending")
            let changed = try String(contentsOfFile: fleet.keyFile, encoding: .utf8) != keyBefore
            stages[pending ? "killed with a pending key" : changed ? "killed after the promotion" : "killed before the pending key", default: 0] += 1
            try await Self.restartAndCheck(fleet, "round \(round)")
        }
        let finish = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", fleet.config])
        #expect(finish.status == 0, "\(finish.stdout)\(finish.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fleet.keyFile + ".pending"))
        SecretLedger.record([try String(contentsOfFile: fleet.keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)])
        try await Self.restartAndCheck(fleet, "after the finishing run")
        print("agent rekey crash campaign (kills over 0–\(window / 1000) ms): \(stages); the finishing run: \(finish.stdout.split(separator: "\n").joined(separator: "; "))")
    }

    @Test("refused with nothing changed: a sealed vault, a source without a file (seal \"env\")")
    func refusals() async throws {
        let fleet = try await Self.fleet(2)
        defer { fleet.remove() }
        let key = try String(contentsOfFile: fleet.keyFile, encoding: .utf8)
        kill(fleet.agent.pid, SIGSTOP)
        defer { kill(fleet.agent.pid, SIGCONT) }
        try await fleet.vaults[1].stop(signal: SIGKILL)
        try await fleet.vaults[1].start()
        let sealed = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", fleet.config])
        #expect(sealed.status == 2 && sealed.stderr.contains("sealed") && sealed.stderr.contains("nothing was changed"), "\(sealed.stderr)")
        #expect(try String(contentsOfFile: fleet.keyFile, encoding: .utf8) == key)
        #expect(!FileManager.default.fileExists(atPath: fleet.keyFile + ".pending"))

        let envConfig = fleet.directory.appendingPathComponent("env.hcl").path
        try "vault { address = \"\(fleet.vaults[0].address)\" }\nseal \"env\" {}\n".write(toFile: envConfig, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["SEAL_UNSEAL_KEY"] = key.trimmingCharacters(in: .whitespacesAndNewlines)
        let env = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", envConfig], environment: environment)
        #expect(env.status == 2 && env.stderr.contains("file on this host"), "\(env.stderr)")
        #expect(!env.stderr.contains(key.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test("a three-node vaultd cluster on PostgreSQL behind one rekey: one node rekeys, the others are found on the new key; after the active node is killed the standby that takes over is unsealed with the new key",
          .enabled(if: PostgresCluster.isInstalled, "needs PostgreSQL (scripts/test installs it)"))
    func cluster() async throws {
        let cluster = try await HACluster(nodes: 3, postgres: try await PostgresCluster.shared.value)
        defer { cluster.remove() }
        try await cluster.start()
        let config = cluster.directory.appendingPathComponent("rekey.hcl").path
        try (cluster.nodes.map { "vault { address = \"\($0.vaultd.address)\" }" }.joined(separator: "\n")
             + "\nseal \"file\" { path = \"\(cluster.keyFile)\" }\n").write(toFile: config, atomically: true, encoding: .utf8)
        let run = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["rekey", "--config", config])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("rekeyed ") }.count == 1 && lines.filter { $0.contains("a standby") }.count == 2, "\(run.stdout)")
        SecretLedger.record([try String(contentsOfFile: cluster.keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)])
        let active = try #require(await cluster.activeNode())
        try await active.vaultd.stop(signal: SIGKILL)
        #expect(await eventually {
            guard let next = await cluster.activeNode(), next.index != active.index else { return false }
            return await AgentTests.isUnsealed(try! next.vaultd.client())
        }, "no standby took over unsealed:\n\(cluster.nodes.map { $0.agent?.log.suffix(800) ?? "" }.joined(separator: "\n---\n"))")
        try await cluster.start(active)
        #expect(await AgentTests.isUnsealed(try active.vaultd.client()))
    }
}
