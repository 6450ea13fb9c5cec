import AWSAuth
import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// A moto server with KMS, IAM and STS, its signature checking on (moto_setup.py).
final class MotoServer: @unchecked Sendable {
    let directory: URL
    let url: String
    let process: ChildProcess
    let keyID: String
    let agentKeys: (access: String, secret: String)
    let deniedKeys: (access: String, secret: String)
    let roleARN: String
    /// A session of the role, as IMDS would hand it out: access key, secret key, token.
    let instanceCredentials: [String]

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("moto-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = freePort()
        url = "http://127.0.0.1:\(port)"
        let bin = TestEnvironment.packageRoot.appendingPathComponent(".venv/bin")
        process = try ChildProcess(bin.appendingPathComponent("moto_server").path, ["-H", "127.0.0.1", "-p", String(port)],
                                   logPath: directory.appendingPathComponent("moto.log").path)
        let url = self.url
        guard await eventually({ (try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: url + "/moto-api/"))) != nil }) else {
            throw TestSupportError("moto did not start: \(process.log.suffix(500))")
        }
        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/moto_setup.py").path
        let setup = try await TestEnvironment.run(bin.appendingPathComponent("python").path, [script, url])
        guard setup.status == 0, let json = try JSONSerialization.jsonObject(with: Data(setup.stdout.utf8)) as? [String: Any] else {
            throw TestSupportError("moto setup failed: \(setup.stderr)")
        }
        keyID = json["key_id"] as! String
        let agent = json["agent"] as! [String: String], denied = json["denied"] as! [String: String]
        agentKeys = (agent["access_key"]!, agent["secret_key"]!)
        deniedKeys = (denied["access_key"]!, denied["secret_key"]!)
        roleARN = json["role_arn"] as! String
        let instance = json["instance"] as! [String: String]
        instanceCredentials = [instance["access_key"]!, instance["secret_key"]!, instance["token"]!]
    }

    /// Lets the next `count` requests through unsigned (moto checks signatures on every action,
    /// even AssumeRoleWithWebIdentity, which real STS accepts unsigned).
    func allowUnsigned(_ count: Int) async throws {
        _ = try await HTTPClient.send(HTTPClientRequest(method: "POST", url: url + "/moto-api/reset-auth", headers: [("Content-Type", "text/plain")], body: Array(String(count).utf8)))
    }

    func agentConfig(vault: String, ciphertext: String, keys: (access: String, secret: String)?, context: String = "service = \"vaultd\"",
                     endpoint: String? = nil, sealExtra: String = "", retry: String = "retry { initial = \"50ms\"  max = \"1s\" }", extra: String = "") throws -> String {
        let path = directory.appendingPathComponent("agent-\(UUID().uuidString.prefix(6)).hcl").path
        let credentials = keys.map { "  access_key = \"\($0.access)\"\n  secret_key = \"\($0.secret)\"" } ?? ""
        try """
            vault { address = "\(vault)" }
            seal "awskms" {
              region             = "us-east-1"
              kms_key_id         = "\(keyID)"
              endpoint           = "\(endpoint ?? url)"
              ciphertext_path    = "\(ciphertext)"
              encryption_context = { \(context) }
            \(credentials)
            \(sealExtra)
            }
            \(retry)
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    deinit { SecretLedger.removeDirectory(directory) }
}

/// The agent against a real KMS protocol peer (moto) with signature checking on. The
/// environment always disables IMDS: these tests never reach for 169.254.169.254.
@Suite("unseal-agent with AWS KMS (moto)", .enabled(if: TestEnvironment.shouldRunOracleTests("moto"), "needs moto[server]: run scripts/test"))
struct AWSKMSTests {
    static let baseEnvironment = ["AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"]

    static func agent(_ arguments: [String], input: String = "", extra: [String: String] = [:]) async throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(baseEnvironment) { $1 }
        environment.removeValue(forKey: "AWS_PROFILE")
        environment.merge(extra) { $1 }
        return try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), arguments, input: input, environment: environment)
    }

    @Test("wrap with KMS, then the agent unwraps and unseals vaultd, again after a restart")
    func unseal() async throws {
        let moto = try await MotoServer()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("seal.enc").path
        let config = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: moto.agentKeys)

        let wrap = try await Self.agent(["wrap", "--config", config], input: phrase + "\n")
        #expect(wrap.status == 0, "\(wrap.stdout)\(wrap.stderr)")
        #expect(wrap.stdout.contains(try SealKey(parsing: phrase).validationHash().description))
        let envelope = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ciphertext))) as? [String: Any]
        #expect(envelope?["mechanism"] as? String == "awskms")
        #expect(envelope?["version"] as? Int == 1)
        #expect((envelope?["key_id"] as? String)?.contains(moto.keyID) == true)
        #expect(!(try String(contentsOfFile: ciphertext, encoding: .utf8)).contains(phrase.split(separator: " ")[0] + " "))

        var environment = ProcessInfo.processInfo.environment
        environment.merge(Self.baseEnvironment) { $1 }
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: Self.baseEnvironment)
        let client = try vaultd.client()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        #expect(!agent.log.contains(phrase))
        #expect(!agent.log.contains(moto.agentKeys.secret))
        await agent.stop()
    }

    @Test("AWS_SESSION_TOKEN=\"\" beside static keys counts as no token (as botocore): the first KMS call succeeds")
    func emptySessionToken() async throws {
        let moto = try await MotoServer()
        let config = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: moto.directory.appendingPathComponent("seal.enc").path, keys: nil)
        let environment = ["AWS_ACCESS_KEY_ID": moto.agentKeys.access, "AWS_SECRET_ACCESS_KEY": moto.agentKeys.secret, "AWS_SESSION_TOKEN": ""]
        let wrap = try await Self.agent(["wrap", "--config", config, "--generate"], extra: environment)
        #expect(wrap.status == 0, "\(wrap.stdout)\(wrap.stderr)")
        let doctor = try await Self.agent(["doctor", "--config", config], extra: environment)
        #expect(doctor.status == 0, "\(doctor.stdout)\(doctor.stderr)")
        #expect(doctor.stdout.contains("decrypt") && doctor.stdout.contains(": ok"), "\(doctor.stdout)")
    }

    @Test("a wrong secret key is surfaced as a signature error; a wrong encryption_context as InvalidCiphertext naming it")
    func wrongCredentialsAndContext() async throws {
        let moto = try await MotoServer()
        let directory = moto.directory
        let ciphertext = directory.appendingPathComponent("seal.enc").path
        let good = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: ciphertext, keys: moto.agentKeys)
        #expect(try await Self.agent(["wrap", "--config", good, "--generate"]).status == 0)

        let wrongSecret = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: ciphertext, keys: (moto.agentKeys.access, String(moto.agentKeys.secret.reversed())))
        let signature = try await Self.agent(["doctor", "--config", wrongSecret])
        #expect(signature.status == 1)
        #expect(signature.stdout.contains("SignatureDoesNotMatch") || signature.stdout.contains("InvalidSignatureException"), "\(signature.stdout)")
        #expect(signature.stdout.contains("credentials are wrong"))

        let otherContext = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: ciphertext, keys: moto.agentKeys, context: "service = \"other\"")
        let context = try await Self.agent(["doctor", "--config", otherContext])
        #expect(context.status == 1)
        #expect(context.stdout.contains("InvalidCiphertextException"), "\(context.stdout)")
        #expect(context.stdout.contains("encryption_context"))

        let fine = try await Self.agent(["doctor", "--config", good])
        #expect(fine.status == 0, "\(fine.stdout)")
        #expect(fine.stdout.contains("config (access_key/secret_key)"))
    }

    @Test("a deny policy: AccessDenied logged once, then slow retries; the vault stays sealed")
    func denied() async throws {
        let moto = try await MotoServer()
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        _ = try await vaultd.client().initializeRecorded()
        let ciphertext = vaultd.directory.appendingPathComponent("seal.enc").path
        let good = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: moto.agentKeys)
        #expect(try await Self.agent(["wrap", "--config", good, "--generate"]).status == 0)
        let config = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: moto.deniedKeys)
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: Self.baseEnvironment)
        #expect(await eventually { agent.log.contains("denied") })
        try await Task.sleep(for: .seconds(3))
        let lines = agent.log.split(separator: "\n").filter { $0.contains("AccessDenied") }
        #expect(lines.count == 1, "\(agent.log)")
        #expect(lines.first?.contains("grant kms:Decrypt") == true)
        #expect(try await vaultd.client().sealStatus().sealed == true)
        await agent.stop()
    }

    @Test("web identity: STS AssumeRoleWithWebIdentity, then KMS with the session credentials")
    func webIdentity() async throws {
        let moto = try await MotoServer()
        let ciphertext = moto.directory.appendingPathComponent("seal.enc").path
        let good = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: ciphertext, keys: moto.agentKeys)
        #expect(try await Self.agent(["wrap", "--config", good, "--generate"]).status == 0)
        let tokenFile = moto.directory.appendingPathComponent("token").path
        try "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1bnNlYWwtYWdlbnQifQ.".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let config = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: ciphertext, keys: nil)
        try await moto.allowUnsigned(1)  // only the STS call: real STS takes it unsigned
        let doctor = try await Self.agent(["doctor", "--config", config], extra: [
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": moto.roleARN, "AWS_ENDPOINT_URL_STS": moto.url,
        ])
        #expect(doctor.status == 0, "\(doctor.stdout)\(doctor.stderr)")
        #expect(doctor.stdout.contains("✔ web identity"))
        #expect(doctor.stdout.contains("temporary"))
        #expect(doctor.stdout.contains("decrypt \(ciphertext): ok"))
    }

    @Test("KMSClient: Encrypt and Decrypt bound to a context, GenerateRandom; a tampered ciphertext is InvalidCiphertext")
    func kmsClient() async throws {
        let moto = try await MotoServer()
        let client = KMSClient(region: "us-east-1", endpoint: moto.url,
                               credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: moto.agentKeys.access, secretAccessKey: moto.agentKeys.secret)))
        let plaintext = Array("not a real key, just bytes".utf8)
        let (ciphertext, keyID) = try await client.encrypt(plaintext, keyID: moto.keyID, context: ["service": "vaultd"])
        #expect(keyID.contains(moto.keyID))
        let decrypted = try await client.decrypt(ciphertext, keyID: moto.keyID, context: ["service": "vaultd"])
        #expect(decrypted.plaintext == plaintext)
        let random = try await client.generateRandom(32)
        #expect(random.count == 32)
        #expect(random != (try await client.generateRandom(32)))
        var tampered = ciphertext
        tampered[tampered.count / 2] ^= 0x01
        let error = await #expect(throws: AWSError.self) { _ = try await client.decrypt(tampered, keyID: moto.keyID, context: ["service": "vaultd"]) }
        #expect(error?.serviceCode == "InvalidCiphertextException")
        #expect(error?.errorClass == .needsFix)
    }
}
