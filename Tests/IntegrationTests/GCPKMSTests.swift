import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// The Cloud KMS fake (`Oracle/gcp_fake.py`) and what it made: service-account files, an
/// external-account file, the key's name.
final class GCPFake: @unchecked Sendable {
    struct Setup: Decodable {
        let keyName: String
        let agentSA: String
        let deniedSA: String
        let external: String
        let base: String
        enum CodingKeys: String, CodingKey { case base, external, keyName = "key_name", agentSA = "agent_sa", deniedSA = "denied_sa" }
    }

    let server: OracleServer
    let directory: URL
    let setup: Setup

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gcp-\(UUID().uuidString.prefix(8))")
        server = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/gcp_fake.py", arguments: [directory.path])
        setup = try JSONDecoder().decode(Setup.self, from: Data(contentsOf: directory.appendingPathComponent("setup.json")))
    }

    /// `GCE_METADATA_HOST` for the metadata-server identity.
    var metadataHost: String { String(setup.base.dropFirst("http://".count)) }

    func sealBlock(ciphertext: String, credentials: String?, extra: String = "") -> String {
        let parts = setup.keyName.split(separator: "/")   // projects/P/locations/R/keyRings/K/cryptoKeys/C
        return """
            seal "gcpckms" {
              \(credentials.map { "credentials = \"\($0)\"" } ?? "")
              project         = "\(parts[1])"
              region          = "\(parts[3])"
              key_ring        = "\(parts[5])"
              crypto_key      = "\(parts[7])"
              endpoint        = "\(setup.base)"
              ciphertext_path = "\(ciphertext)"
              \(extra)
            }
            """
    }

    func failNext(_ count: Int) async throws {
        _ = try await HTTPClient.send(HTTPClientRequest(method: "POST", url: "\(setup.base)/fault/fail?count=\(count)"))
    }

    struct Call: Decodable { let method: String; let identity: String; let status: Int }
    func calls() async throws -> [Call] {
        let answer = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "\(setup.base)/fault/log"))
        return try JSONDecoder().decode([Call].self, from: Data(answer.body))
    }

    deinit { SecretLedger.removeDirectory(directory) }
}

/// `seal "gcpckms"` against a Cloud KMS fake that Google's own clients accept first
/// (google-cloud-kms over REST, google-auth's service-account, metadata and workload-identity
/// flows): init of a vaultd pair and restarts, every identity, a missing permission, 503s.
@Suite("unseal-agent with Google Cloud KMS (a fake proven with Google's clients)", .serialized,
       .enabled(if: TestEnvironment.shouldRunOracleTests("google.cloud.kms", "google.auth"), "needs google-cloud-kms and google-auth: run scripts/test"))
struct GCPKMSTests {
    static func agent(_ arguments: [String], environment: [String: String] = [:], input: String = "") async throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "GOOGLE_APPLICATION_CREDENTIALS")
        env.merge(environment) { $1 }
        return try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), arguments, input: input, environment: env)
    }

    @Test("first: the fake passes google-auth (service account, metadata server, workload identity) and google-cloud-kms encrypt/decrypt with CRC32C")
    func fakeProvenByGoogleClients() async throws {
        let fake = try await GCPFake()
        let proof = TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/gcp_fake_proof.py").path
        var environment = ProcessInfo.processInfo.environment
        environment["GCE_METADATA_HOST"] = fake.metadataHost
        let run = try await TestEnvironment.run(TestEnvironment.oraclePython!, [proof, fake.directory.appendingPathComponent("setup.json").path], environment: environment)
        #expect(run.status == 0 && run.stdout.hasPrefix("proven"), "\(run.stdout)\(run.stderr)")
        print("GCP fake: \(run.stdout.split(separator: "\n").dropFirst().joined(separator: "; "))")
    }

    @Test("two vaultd declared one cluster, init through Cloud KMS with a service account: one key, both unsealed; 10 kill -9 restarts with the same file")
    func initClusterAndRestarts() async throws {
        let fake = try await GCPFake()
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let ciphertext = a.directory.appendingPathComponent("gcpckms.enc").path
        let config = try TransitSealTests.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")],
                                                      seal: fake.sealBlock(ciphertext: ciphertext, credentials: fake.setup.agentSA), extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: a.directory)
        defer { kill(agent.pid, SIGKILL) }
        let (clientA, clientB) = (try a.client(), try b.client())
        try #require(await eventually { await AgentTests.allUnsealed([clientA, clientB]) }, "\(agent.log.suffix(2000))")
        let envelope = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ciphertext))) as? [String: Any]
        #expect(envelope?["mechanism"] as? String == "gcpckms" && envelope?["key_name"] as? String == fake.setup.keyName, "\(envelope ?? [:])")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        for restart in 1...10 {
            try await a.stop(signal: SIGKILL)
            try await a.start()
            #expect(await eventually { await AgentTests.isUnsealed(clientA) }, "restart \(restart): \(agent.log.suffix(1500))")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes)
        #expect(AgentClusterTests.occurrences(of: "generated a seal key", in: agent.log) == 1)
    }

    @Test("each identity — service account, metadata server, workload identity — wraps, and check and doctor read it back")
    func identities() async throws {
        let fake = try await GCPFake()
        let directory = fake.directory.appendingPathComponent("identities")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, credentials, environment) in [("service-account", Optional(fake.setup.agentSA), [String: String]()),
                                                 ("metadata", nil, ["GCE_METADATA_HOST": fake.metadataHost]),
                                                 ("workload", Optional(fake.setup.external), [:])] {
            let ciphertext = directory.appendingPathComponent("\(name).enc").path
            let config = try TransitSealTests.writeConfig(directory, vaults: [("unix://\(directory.path)/none.sock", nil)],
                                                          seal: fake.sealBlock(ciphertext: ciphertext, credentials: credentials))
            let wrap = try await Self.agent(["wrap", "--config", config, "--generate"], environment: environment)
            #expect(wrap.status == 0 && wrap.stdout.contains("wrapped with gcpckms:"), "\(name): \(wrap.stdout)\(wrap.stderr)")
            let check = try await Self.agent(["check", "--config", config], environment: environment)
            #expect(check.stdout.contains("seal gcpckms:\(fake.setup.keyName): holds a key"), "\(name): \(check.stdout)")
            let doctor = try await Self.agent(["doctor", "--config", config], environment: environment)
            #expect(doctor.status == 0 && doctor.stdout.contains("token: ok") && doctor.stdout.contains("ok (a key)"), "\(name): \(doctor.stdout)")
        }
        let identities = Set(try await fake.calls().filter { $0.status == 200 }.map(\.identity))
        #expect(identities.contains("metadata:default") && identities.contains("workload:pool") && identities.contains { $0.hasPrefix("unseal-agent@") }, "\(identities)")
    }

    @Test("an identity without the permission: needs-a-fix naming it; nothing initialised, no file written")
    func permissionDenied() async throws {
        let fake = try await GCPFake()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let ciphertext = vaultd.directory.appendingPathComponent("gcpckms.enc").path
        let config = try TransitSealTests.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                                      seal: fake.sealBlock(ciphertext: ciphertext, credentials: fake.setup.deniedSA), extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        #expect(await eventually { agent.log.contains("needs_fix") }, "\(agent.log.suffix(1500))")
        await agent.stop(signal: SIGKILL)
        #expect(agent.log.contains("cloudkms.cryptoKeyVersions.useToEncrypt"), "\(agent.log.suffix(1500))")
        #expect(!FileManager.default.fileExists(atPath: ciphertext))
        #expect((try await vaultd.client().sealStatus()).initialized == false)
    }

    @Test("503s from Cloud KMS: retried, then unsealed with the file it had; never a new key")
    func transient503() async throws {
        let fake = try await GCPFake()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("gcpckms.enc").path
        let config = try TransitSealTests.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                                      seal: fake.sealBlock(ciphertext: ciphertext, credentials: fake.setup.agentSA), extra: "init { enabled = true }")
        let wrap = try await Self.agent(["wrap", "--config", config], input: phrase + "\n")
        #expect(wrap.status == 0, "\(wrap.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        try await fake.failNext(3)
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        let decrypts = try await fake.calls().filter { $0.method == "decrypt" }.map(\.status)
        #expect(decrypts.prefix(4) == [503, 503, 503, 200], "\(decrypts)")
        #expect(agent.log.contains("class=retryable") && !agent.log.contains("needs_fix"), "\(agent.log.suffix(1500))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes)
        #expect(!agent.log.contains("generated a seal key"))
    }

    @Test("bad seal \"gcpckms\" blocks are refused by name", arguments: [
        ("region = \"global\"\n  key_ring = \"k\"\n  crypto_key = \"c\"", "project"),
        ("project = \"p\"\n  key_ring = \"k\"\n  crypto_key = \"c\"", "region"),
        ("project = \"p\"\n  region = \"global\"\n  crypto_key = \"c\"", "key_ring"),
        ("project = \"p\"\n  region = \"global\"\n  key_ring = \"k\"", "crypto_key"),
        ("project = \"p\"\n  region = \"global\"\n  key_ring = \"k\"\n  crypto_key = \"c\"\n  credentials = \"/nonexistent.json\"", "cannot read the credentials file"),
        ("project = \"p\"\n  region = \"global\"\n  key_ring = \"k\"\n  crypto_key = \"c\"\n  endpoint = \"cloudkms.googleapis.com\"", "expected https://"),
        ("project = \"p\"\n  region = \"global\"\n  key_ring = \"k\"\n  crypto_key = \"c\"\n  key_id = \"x\"", "unknown setting 'key_id'"),
    ])
    func badBlocks(_ body: String, _ reason: String) async throws {
        let check = try await AgentConfigCheck.run("seal \"gcpckms\" {\n  \(body)\n}", environment: ["GOOGLE_PROJECT": "", "GOOGLE_REGION": "", "GOOGLE_APPLICATION_CREDENTIALS": ""])
        #expect(check.status == 1 && check.stderr.contains(reason), "\(check.stderr)")
    }
}
