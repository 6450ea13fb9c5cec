import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// `unseal-agent rewrap` against moto's KMS (signature checking on): a KMS key rotation renews the
/// envelope without the material reaching a terminal, kills leave a file that unseals, and
/// `--from file --to awskms` migrates two vaults' key with no moment it exists nowhere.
@Suite("unseal-agent rewrap and migration (moto)", .enabled(if: TestEnvironment.shouldRunOracleTests("moto"), "needs moto[server]: run scripts/test"))
struct AgentRewrapTests {
    /// A second KMS key in `moto` (CreateKey lets one unsigned request through).
    static func secondKey(_ moto: MotoServer) async throws -> String {
        try await moto.allowUnsigned(1)
        let made = try await TestEnvironment.runOracle("""
            import boto3, sys
            kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
            print(kms.create_key(Description="rotated")["KeyMetadata"]["KeyId"])
            """, arguments: [moto.url], input: "")
        try #require(made.status == 0, "\(made.stderr)")
        return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func envelopeKey(_ path: String) throws -> String {
        let envelope = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return envelope?["key_id"] as? String ?? ""
    }

    @Test("kms_key_id moved to a new key: the agent still unseals from the old file; rewrap renews it under the new key; 10 kills of rewrap each leave a file that unseals")
    func rotation() async throws {
        let moto = try await MotoServer()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("seal.enc").path
        let oldConfig = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: moto.agentKeys)
        #expect(try await AWSKMSTests.agent(["wrap", "--config", oldConfig], input: phrase + "\n").status == 0)
        #expect(try Self.envelopeKey(ciphertext).contains(moto.keyID))

        let newKey = try await Self.secondKey(moto)
        let newConfig = try String(contentsOfFile: oldConfig, encoding: .utf8).replacingOccurrences(of: "kms_key_id         = \"\(moto.keyID)\"", with: "kms_key_id         = \"\(newKey)\"")
        let config = moto.directory.appendingPathComponent("rotated.hcl").path
        try newConfig.write(toFile: config, atomically: true, encoding: .utf8)
        // Before the rewrap, the file of the old key still opens with the new configuration.
        let check = try await AWSKMSTests.agent(["check", "--config", config])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")

        var outcomes = [String: Int]()
        for _ in 0..<10 {
            var environment = ProcessInfo.processInfo.environment
            environment.merge(AWSKMSTests.baseEnvironment) { $1 }
            environment.removeValue(forKey: "AWS_PROFILE")
            let command = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["rewrap", "--config", config],
                                           logPath: moto.directory.appendingPathComponent("rewrap-\(UUID().uuidString.prefix(6)).log").path, environment: environment)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...120)))
            kill(command.pid, SIGKILL)
            await command.stop(signal: SIGKILL)
            outcomes[try Self.envelopeKey(ciphertext).contains(newKey) ? "new key" : "old key", default: 0] += 1
            let unseals = try await AWSKMSTests.agent(["check", "--config", config])
            #expect(unseals.status == 0, "a killed rewrap left a file that does not open: \(unseals.stderr)")
        }
        let rewrap = try await AWSKMSTests.agent(["rewrap", "--config", config])
        #expect(rewrap.status == 0 && rewrap.stdout.contains("rewrapped"), "\(rewrap.stdout)\(rewrap.stderr)")
        #expect(try Self.envelopeKey(ciphertext).contains(newKey))
        #expect(!rewrap.stdout.contains(phrase) && !rewrap.stderr.contains(phrase))
        var environment = ProcessInfo.processInfo.environment
        environment.merge(AWSKMSTests.baseEnvironment) { $1 }
        environment.removeValue(forKey: "AWS_PROFILE")
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: moto.directory.appendingPathComponent("agent.log").path, environment: environment)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        print("kills of rewrap: \(outcomes)")
    }

    @Test("--from file --to awskms for two vaults on one key: copied and read back, the file left; an agent with only the KMS seal unseals both; a destination holding other material is refused")
    func migration() async throws {
        let moto = try await MotoServer()
        var vaults = [VaultdHarness]()
        defer { for vault in vaults { vault.remove() } }
        let phrase = try SealKey.generate().phrase()
        for _ in 0..<2 {
            let vaultd = try VaultdHarness()
            try await vaultd.start()
            _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
            vaults.append(vaultd)
        }
        let keyFile = moto.directory.appendingPathComponent("unseal-key").path
        _ = FileManager.default.createFile(atPath: keyFile, contents: Data((phrase + "\n").utf8), attributes: [.posixPermissions: 0o600])
        let ciphertext = moto.directory.appendingPathComponent("seal.enc").path
        let kmsOnly = try moto.agentConfig(vault: vaults[0].address, ciphertext: ciphertext, keys: moto.agentKeys,
                                           extra: "vault { address = \"\(vaults[1].address)\" }")
        let both = moto.directory.appendingPathComponent("both.hcl").path
        try (try String(contentsOfFile: kmsOnly, encoding: .utf8) + "\nseal \"file\" { path = \"\(keyFile)\" }\n").write(toFile: both, atomically: true, encoding: .utf8)

        let migrated = try await AWSKMSTests.agent(["rewrap", "--config", both, "--from", "file", "--to", "awskms"])
        #expect(migrated.status == 0 && migrated.stdout.contains("read back"), "\(migrated.stdout)\(migrated.stderr)")
        #expect(FileManager.default.fileExists(atPath: keyFile), "the old source was removed")
        #expect(!migrated.stdout.contains(phrase) && !migrated.stderr.contains(phrase))

        var environment = ProcessInfo.processInfo.environment
        environment.merge(AWSKMSTests.baseEnvironment) { $1 }
        environment.removeValue(forKey: "AWS_PROFILE")
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", kmsOnly],
                                     logPath: moto.directory.appendingPathComponent("agent.log").path, environment: environment)
        defer { kill(agent.pid, SIGKILL) }
        for vault in vaults {
            let client = try vault.client()
            #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        }
        // Another key in the file now: the KMS seal holds different material and is not overwritten.
        let other = try SealKey.generate().phrase()
        SecretLedger.record([other])
        try (other + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile, 0o600)
        let refused = try await AWSKMSTests.agent(["rewrap", "--config", both, "--from", "file", "--to", "awskms"])
        #expect(refused.status == 2 && refused.stderr.contains("already holds other key material"), "\(refused.stderr)")
        let check = try await AWSKMSTests.agent(["check", "--config", kmsOnly])
        #expect(check.status == 0, "\(check.stderr)")
    }
}
