import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// The agent on the paths where AWS misbehaves: a KMS endpoint that throttles, fails and
/// stalls (a proxy in front of moto), and an instance whose metadata service drops the IMDSv2
/// token response (the hop-limit symptom). Signature checking stays on throughout.
@Suite("unseal-agent when AWS misbehaves", .enabled(if: TestEnvironment.shouldRunOracleTests("moto", "botocore"), "needs moto[server]: run scripts/test"))
struct AWSFaultTests {
    struct Call: Decodable { let t: Double; let fault: String }

    /// A vaultd initialised with a fresh key, wrapped by KMS (directly, not through any fault).
    static func wrappedVault(_ moto: MotoServer) async throws -> (VaultdHarness, ciphertext: String) {
        let vaultd = try VaultdHarness()
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        let ciphertext = vaultd.directory.appendingPathComponent("seal.enc").path
        let direct = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: moto.agentKeys)
        let wrap = try await AWSKMSTests.agent(["wrap", "--config", direct], input: phrase + "\n")
        guard wrap.status == 0 else { throw TestSupportError("wrap failed: \(wrap.stderr)") }
        return (vaultd, ciphertext)
    }

    @Test("through throttling, 500s, a 503, a stall and a reset the agent still unseals, every wait bounded by retry.max")
    func faultyKMS() async throws {
        let moto = try await MotoServer()
        let faults = ["throttle", "internal", "500", "503", "stall", "reset", "throttle", "throttle"]
        let proxy = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/fault_proxy.py", arguments: [moto.url, faults.joined(separator: ",")])
        let (vaultd, ciphertext) = try await Self.wrappedVault(moto)
        defer { vaultd.remove() }
        let retryMax = 0.3, requestTimeout = 1.0
        let config = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: moto.agentKeys, endpoint: proxy.url,
                                          sealExtra: "request_timeout = \"1s\"", retry: "retry { initial = \"50ms\"  max = \"300ms\" }")
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: AWSKMSTests.baseEnvironment)
        let client = try vaultd.client()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        await agent.stop()

        let log = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: proxy.url + "/fault/log"))
        let calls = try JSONDecoder().decode([Call].self, from: Data(log.body))
        #expect(calls.map(\.fault) == faults + ["pass"], "\(calls)")
        // The wait after a call is its own duration (1 s request_timeout for the stall, about
        // nothing for the others) plus a backoff of at most retry.max (0.3 s); 1.5 s of slack
        // covers a busy machine and still catches an uncapped backoff (50 ms · 2^7 = 6.4 s).
        let gaps = zip(calls, calls.dropFirst()).map { ($0.fault, $1.t - $0.t) }
        print("KMS through faults: gaps between attempts \(gaps.map { "\($0.0) \(Int($0.1 * 1000)) ms" }.joined(separator: ", "))")
        for (fault, gap) in gaps {
            #expect(gap <= (fault == "stall" ? requestTimeout : 0) + retryMax + 1.5, "after \(fault): \(gap) s")
        }
        #expect(agent.log.contains("class=retryable"), "\(agent.log)")
        #expect(!agent.log.contains("needs_fix"), "\(agent.log)")
        #expect(agent.log.contains("ThrottlingException"))
    }

    @Test("IMDS hop limit: the token PUT never answers, IMDSv1 answers; the agent unseals with the role's credentials and logs the fix once")
    func imdsHopLimit() async throws {
        let moto = try await MotoServer()
        let imds = try await OracleServer.start(script: "Tests/AWSAuthTests/Oracle/imds_fake.py", arguments: ["silent-put"] + moto.instanceCredentials)
        let (vaultd, ciphertext) = try await Self.wrappedVault(moto)
        defer { vaultd.remove() }
        let config = try moto.agentConfig(vault: vaultd.address, ciphertext: ciphertext, keys: nil)
        let environment = AWSKMSTests.baseEnvironment.merging(["AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url]) { $1 }

        let doctor = try await AWSKMSTests.agent(["doctor", "--config", config], extra: environment)
        #expect(doctor.status == 0, "\(doctor.stdout)\(doctor.stderr)")
        #expect(doctor.stdout.contains("✔ instance metadata (IMDS)"))
        #expect(doctor.stdout.contains("hop limit"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("--http-put-response-hop-limit 2"))
        // The time itself is a benchmark figure (bench/imds_hop_limit.py); here only a hang guard.
        let milliseconds = doctor.stdout.firstMatch(of: /\(in (\d+) ms\)/).flatMap { Int($0.1) }
        print("IMDS hop limit, doctor: credentials in \(milliseconds.map(String.init) ?? "?") ms")
        #expect((milliseconds ?? .max) < 5000, "\(doctor.stdout)")

        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: environment)
        let client = try vaultd.client()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        await agent.stop()
        let fixLines = agent.log.split(separator: "\n").filter { $0.contains("http-put-response-hop-limit 2") }
        #expect(fixLines.count == 1, "\(agent.log)")
        #expect(!agent.log.contains(moto.instanceCredentials[1]))
    }

    @Test("IMDS hop limit with IMDSv1 disabled: doctor fails fast with the diagnosis")
    func imdsHopLimitV1Disabled() async throws {
        let moto = try await MotoServer()
        let imds = try await OracleServer.start(script: "Tests/AWSAuthTests/Oracle/imds_fake.py", arguments: ["silent-v1-disabled"] + moto.instanceCredentials)
        let config = try moto.agentConfig(vault: "unix:///nonexistent.sock", ciphertext: moto.directory.appendingPathComponent("seal.enc").path, keys: nil)
        let environment = AWSKMSTests.baseEnvironment.merging(["AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url]) { $1 }
        let started = ContinuousClock.now
        let doctor = try await AWSKMSTests.agent(["doctor", "--config", config], extra: environment)
        let elapsed = ContinuousClock.now - started
        #expect(doctor.status == 1)
        #expect(doctor.stdout.contains("HttpPutResponseHopLimit=2"), "\(doctor.stdout)")
        #expect(doctor.stdout.contains("IMDSv1 is disabled") || doctor.stdout.contains("requires tokens"), "\(doctor.stdout)")
        print("IMDS hop limit, v1 disabled: doctor finished in \(elapsed)")
    }
}
