import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// A SoftHSM2 token of its own (`softhsm2-util`, a token directory in a temporary directory),
/// with an AES key and an RSA key pair made by the python-pkcs11 oracle.
final class SoftHSM: @unchecked Sendable {
    static let library = "/usr/lib/softhsm/libsofthsm2.so"
    static let oracle = TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/pkcs11_oracle.py").path
    let directory: URL
    let token = "unseal"
    let pin = "pin-\(UUID().uuidString)"
    var environment: [String: String] { ["SOFTHSM2_CONF": directory.appendingPathComponent("softhsm2.conf").path] }

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("softhsm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tokens"), withIntermediateDirectories: true)
        SecretLedger.record([pin])
        try "directories.tokendir = \(directory.appendingPathComponent("tokens").path)\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(to: directory.appendingPathComponent("softhsm2.conf"), atomically: true, encoding: .utf8)
        let made = try await TestEnvironment.run("/usr/bin/softhsm2-util", ["--init-token", "--free", "--label", token, "--pin", pin, "--so-pin", "so-\(pin)"],
                                                 environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        guard made.status == 0 else { throw TestSupportError("softhsm2-util: \(made.stdout)\(made.stderr)") }
        let keys = try await oracle(["keys"])
        guard keys.status == 0 else { throw TestSupportError("python-pkcs11 keys: \(keys.stderr)") }
    }

    func oracle(_ arguments: [String], input: String = "") async throws -> ProcessResult {
        let command = arguments[0]
        return try await TestEnvironment.run(TestEnvironment.oraclePython!, [Self.oracle, command, Self.library, token, pin] + arguments.dropFirst(),
                                             input: input, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    func sealBlock(ciphertext: String, mechanism: String = "CKM_AES_GCM", pin: String? = nil, extra: String = "") -> String {
        """
        seal "pkcs11" {
          lib             = "\(Self.library)"
          token_label     = "\(token)"
          pin             = "\(pin ?? self.pin)"
          key_label       = "\(mechanism == "CKM_AES_GCM" ? "unseal-aes" : "unseal-rsa")"
          mechanism       = "\(mechanism)"
          rsa_oaep_hash   = "sha1"   # SoftHSM2 2.6 has no other
          ciphertext_path = "\(ciphertext)"
          \(extra)
        }
        """
    }

    deinit { SecretLedger.removeDirectory(directory) }
}

/// `seal "pkcs11"` against SoftHSM2, with python-pkcs11 as the oracle: material wrapped by
/// Python opens in the agent and the other way round, for AES-GCM and RSA-OAEP; autonomous init
/// of a vaultd pair through the HSM and restarts; an HSM that fails for a while (unseal and init);
/// a wrong PIN; bad blocks.
@Suite("unseal-agent with seal \"pkcs11\" (SoftHSM2)",
       .enabled(if: FileManager.default.fileExists(atPath: SoftHSM.library) && TestEnvironment.shouldRunOracleTests("pkcs11"),
                "needs softhsm2 and python-pkcs11: run scripts/test"))
struct PKCS11SealTests {
    static func agent(_ arguments: [String], hsm: SoftHSM, input: String = "") async throws -> ProcessResult {
        try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), arguments, input: input,
                                      environment: ProcessInfo.processInfo.environment.merging(hsm.environment) { $1 })
    }

    @Test("python-pkcs11 wraps, the agent unwraps and unseals; the agent wraps, python-pkcs11 unwraps", arguments: ["CKM_AES_GCM", "CKM_RSA_PKCS_OAEP"])
    func bothWays(_ mechanism: String) async throws {
        let hsm = try await SoftHSM()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("pkcs11.enc").path
        let config = try TransitSealTests.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)], seal: hsm.sealBlock(ciphertext: ciphertext, mechanism: mechanism))

        // Python → agent.
        let wrapped = try await hsm.oracle(["wrap", mechanism, ciphertext], input: phrase)
        #expect(wrapped.status == 0, "\(wrapped.stderr)")
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: hsm.environment)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        await agent.stop()

        // Agent → Python: the same key, wrapped anew by the agent.
        let replace = try await Self.agent(["wrap", "--config", config, "--replace"], hsm: hsm, input: phrase + "\n")
        #expect(replace.status == 0 && replace.stdout.contains("wrapped with pkcs11:"), "\(replace.stdout)\(replace.stderr)")
        let opened = try await hsm.oracle(["unwrap", ciphertext])
        #expect(opened.status == 0 && opened.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == phrase, "\(opened.stderr)")
        #expect(!(try String(contentsOfFile: ciphertext, encoding: .utf8)).contains(String(phrase.split(separator: " ")[0]) + " "))
        #expect(!agent.log.contains(hsm.pin))
        let doctor = try await Self.agent(["doctor", "--config", config], hsm: hsm)
        #expect(doctor.status == 0 && doctor.stdout.contains("ok (a key)"), "\(doctor.stdout)")
    }

    @Test("two vaultd declared one cluster, init through the HSM: one key for both; 10 kill -9 restarts unsealed with the same file")
    func initClusterAndRestarts() async throws {
        let hsm = try await SoftHSM()
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let ciphertext = a.directory.appendingPathComponent("pkcs11.enc").path
        let config = try TransitSealTests.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")],
                                                      seal: hsm.sealBlock(ciphertext: ciphertext), extra: "init { enabled = true }")
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: a.directory.appendingPathComponent("agent.log").path, environment: hsm.environment)
        defer { kill(agent.pid, SIGKILL) }
        let (clientA, clientB) = (try a.client(), try b.client())
        try #require(await eventually { await AgentTests.allUnsealed([clientA, clientB]) }, "\(agent.log.suffix(2000))")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        for restart in 1...10 {
            try await a.stop(signal: SIGKILL)
            try await a.start()
            #expect(await eventually { await AgentTests.isUnsealed(clientA) }, "restart \(restart): \(agent.log.suffix(1500))")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes)
        #expect(AgentClusterTests.occurrences(of: "generated a seal key", in: agent.log) == 1)
        // The oracle opens what the agent's init stored, and records it for the secret scan.
        let opened = try await hsm.oracle(["unwrap", ciphertext])
        let stored = opened.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(opened.status == 0 && stored.split(separator: " ").count == 24, "\(opened.stderr)")
        SecretLedger.record([stored])
        #expect(!agent.log.contains(stored) && !agent.log.contains(hsm.pin))
    }

    /// SoftHSM2 never fails on its own: `Oracle/pkcs11_flaky.c` stands in front of it as the
    /// module the agent loads and answers CKR_DEVICE_ERROR to as many encrypt/decrypt calls as
    /// its failures file says.
    struct FlakyHSM {
        let hsm: SoftHSM
        let library: String
        var failures: URL { hsm.directory.appendingPathComponent("flaky-failures") }
        var refusals: URL { hsm.directory.appendingPathComponent("flaky-refusals") }
        var environment: [String: String] {
            hsm.environment.merging(["PKCS11_FLAKY_TARGET": SoftHSM.library, "PKCS11_FLAKY_FAILURES_FILE": failures.path,
                                     "PKCS11_FLAKY_LOG_FILE": refusals.path]) { $1 }
        }

        init(_ hsm: SoftHSM) throws {
            self.hsm = hsm
            library = try FaultInjection.sharedLibrary(from: "pkcs11_flaky.c")
        }

        func failNext(_ count: Int) throws { try "\(count)\n".write(to: failures, atomically: true, encoding: .utf8) }
        var refused: [String] { ((try? String(contentsOf: refusals, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        func sealBlock(ciphertext: String) -> String {
            hsm.sealBlock(ciphertext: ciphertext).replacingOccurrences(of: SoftHSM.library, with: library)
        }
    }

    @Test("an HSM that answers CKR_DEVICE_ERROR: unsealing two vaults is retried until it answers, with the file it had; never a new key")
    func transientDeviceErrors() async throws {
        let flaky = try FlakyHSM(try await SoftHSM())
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let phrase = try SealKey.generate().phrase()
        _ = try await a.client().initializeRecorded(InitRequest(sealKey: phrase))
        _ = try await b.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = a.directory.appendingPathComponent("pkcs11.enc").path
        let config = try TransitSealTests.writeConfig(a.directory, vaults: [(a.address, nil), (b.address, nil)], seal: flaky.sealBlock(ciphertext: ciphertext))
        let wrap = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["wrap", "--config", config], input: phrase + "\n",
                                                 environment: ProcessInfo.processInfo.environment.merging(flaky.environment) { $1 })
        try #require(wrap.status == 0, "\(wrap.stdout)\(wrap.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        for vaultd in [a, b] {
            try await vaultd.stop(signal: SIGKILL)
            try await vaultd.start()
        }

        try flaky.failNext(4)
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: a.directory.appendingPathComponent("agent.log").path, environment: flaky.environment)
        defer { kill(agent.pid, SIGKILL) }
        let clients = [try a.client(), try b.client()]
        #expect(await eventually { await AgentTests.allUnsealed(clients) }, "\(agent.log.suffix(2000))")
        #expect(flaky.refused.count == 4 && flaky.refused.allSatisfy { $0 == "C_DecryptInit CKR_DEVICE_ERROR" }, "\(flaky.refused)")
        #expect(agent.log.contains("the HSM is unavailable") && agent.log.contains("class=retryable"), "\(agent.log.suffix(2000))")
        #expect(!agent.log.contains("needs_fix"), "\(agent.log.suffix(2000))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes)
        #expect(!agent.log.contains("generated a seal key") && !agent.log.contains(flaky.hsm.pin))
    }

    @Test("an HSM that answers CKR_DEVICE_ERROR during a cluster's first init: the store is retried, one key reaches the file and unseals both nodes")
    func transientDeviceErrorsAtInit() async throws {
        let flaky = try FlakyHSM(try await SoftHSM())
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let ciphertext = a.directory.appendingPathComponent("pkcs11.enc").path
        let config = try TransitSealTests.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")],
                                                      seal: flaky.sealBlock(ciphertext: ciphertext), extra: "init { enabled = true }")
        try flaky.failNext(3)
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: a.directory.appendingPathComponent("agent.log").path, environment: flaky.environment)
        defer { kill(agent.pid, SIGKILL) }
        let clients = [try a.client(), try b.client()]
        try #require(await eventually { await AgentTests.allUnsealed(clients) }, "\(agent.log.suffix(2000))")
        #expect(flaky.refused.count == 3 && flaky.refused.allSatisfy { $0 == "C_EncryptInit CKR_DEVICE_ERROR" }, "\(flaky.refused)")
        #expect(AgentClusterTests.occurrences(of: "generated a seal key", in: agent.log) == 1, "\(agent.log.suffix(2000))")
        #expect(agent.log.contains("class=retryable") && !agent.log.contains("needs_fix"), "\(agent.log.suffix(2000))")
        // What the file holds is what both nodes run on: the oracle opens it, and a restart of
        // each node is unsealed from it.
        let opened = try await flaky.hsm.oracle(["unwrap", ciphertext])
        let stored = opened.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(opened.status == 0 && stored.split(separator: " ").count == 24, "\(opened.stderr)")
        SecretLedger.record([stored])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        for (vaultd, client) in zip([a, b], clients) {
            try await vaultd.stop(signal: SIGKILL)
            try await vaultd.start()
            #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes)
        #expect(!agent.log.contains(stored) && !agent.log.contains(flaky.hsm.pin))
    }

    @Test("a wrong PIN is a needs-a-fix error that names pin, and the PIN is in no output")
    func wrongPIN() async throws {
        let hsm = try await SoftHSM()
        let directory = hsm.directory
        let ciphertext = directory.appendingPathComponent("pkcs11.enc").path
        #expect(try await hsm.oracle(["wrap", "CKM_AES_GCM", ciphertext], input: try SealKey.generate().phrase()).status == 0)
        let wrong = "wrong-pin-\(UUID().uuidString)"
        let config = try TransitSealTests.writeConfig(directory, vaults: [("unix://\(directory.path)/none.sock", nil)],
                                                      seal: hsm.sealBlock(ciphertext: ciphertext, pin: wrong))
        let check = try await Self.agent(["check", "--config", config], hsm: hsm)
        #expect(check.status == 1 && check.stdout.contains("refused the PIN") && check.stdout.contains("pin"), "\(check.stdout)")
        #expect(!(check.stdout + check.stderr).contains(wrong))
        // A library that is not a PKCS#11 module, and a key label that is not on the token.
        let notModule = try TransitSealTests.writeConfig(directory, vaults: [("unix://\(directory.path)/none.sock", nil)],
                                                         seal: hsm.sealBlock(ciphertext: ciphertext).replacingOccurrences(of: SoftHSM.library, with: "/lib/x86_64-linux-gnu/libz.so.1"))
        let lib = try await Self.agent(["check", "--config", notModule], hsm: hsm)
        #expect(lib.status == 1 && lib.stdout.contains("not a PKCS#11 module"), "\(lib.stdout)")
        let noKey = try TransitSealTests.writeConfig(directory, vaults: [("unix://\(directory.path)/none.sock", nil)],
                                                     seal: hsm.sealBlock(ciphertext: directory.appendingPathComponent("new.enc").path).replacingOccurrences(of: "unseal-aes", with: "absent"))
        let absent = try await Self.agent(["wrap", "--config", noKey, "--generate"], hsm: hsm)
        #expect(absent.status == 1 && absent.stderr.contains("no key labelled 'absent'"), "\(absent.stderr)")
    }

    @Test("bad seal \"pkcs11\" blocks are refused by name", arguments: [
        ("lib = \"libsofthsm2.so\"\n  token_label = \"t\"\n  pin = \"1234\"\n  key_label = \"k\"", "absolute path"),
        ("lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n  pin = \"1234\"\n  key_label = \"k\"", "token_label"),
        ("lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n  slot = 0\n  token_label = \"t\"\n  pin = \"1234\"\n  key_label = \"k\"", "not both"),
        ("lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n  token_label = \"t\"\n  key_label = \"k\"", "pin"),
        ("lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n  token_label = \"t\"\n  pin = \"1234\"", "key_label"),
        ("lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n  token_label = \"t\"\n  pin = \"1234\"\n  key_label = \"k\"\n  mechanism = \"CKM_DES\"", "CKM_AES_GCM"),
    ])
    func badBlocks(_ body: String, _ reason: String) async throws {
        let check = try await AgentConfigCheck.run("seal \"pkcs11\" {\n  \(body)\n}")
        #expect(check.status == 1 && check.stderr.contains(reason), "\(check.stderr)")
    }
}
