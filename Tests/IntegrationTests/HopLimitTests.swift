import Foundation
import TestSupport
import Testing

/// The IMDSv2 hop limit for real (issue 8): the agent in one network namespace, a router in a
/// second, the IMDS fake on 169.254.169.254 in a third, sending its token responses with the IP
/// TTL of the hop limit — so with hop limit 1 the router's kernel drops them, as EC2's do on
/// their way into a container.
@Suite("IMDS hop limit across network namespaces", .serialized)
struct HopLimitTests {
    static let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/hop_namespaces.sh").path

    /// Whether this machine lets us create network namespaces (root, `ip`, no seccomp in the way).
    static let canCreateNamespaces: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return false }
        let name = "vdprobe\(getpid() % 10000)"
        guard let add = try? TestEnvironment.runBlocking("/usr/sbin/ip", ["netns", "add", name]), add.status == 0 else { return false }
        _ = try? TestEnvironment.runBlocking("/usr/sbin/ip", ["netns", "delete", name])
        return true
    }()

    /// Runs `unseal-agent doctor` in the client namespace against IMDS behind one router, with
    /// the given hop limit and IMDS mode; returns doctor's output.
    static func doctor(hopLimit: Int, mode: String) async throws -> ProcessResult {
        let prefix = "vd\(String(UInt32.random(in: 0...0xfffff), radix: 16))"
        let up = try await TestEnvironment.run("/bin/sh", [script, "up", prefix])
        defer { _ = try? TestEnvironment.runBlocking("/bin/sh", [script, "down", prefix]) }
        try #require(up.status == 0, "\(up.stderr)")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hops-\(prefix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let python = try #require(TestEnvironment.oraclePython)
        let imds = try ChildProcess("/usr/sbin/ip", ["netns", "exec", "\(prefix)-m", python,
                                                     TestEnvironment.packageRoot.appendingPathComponent("Tests/AWSAuthTests/Oracle/imds_fake.py").path, "80", mode],
                                    logPath: directory.appendingPathComponent("imds.log").path,
                                    environment: ["IMDS_FAKE_HOST": "0.0.0.0", "IMDS_FAKE_HOP_LIMIT": String(hopLimit)])
        defer { kill(imds.pid, SIGKILL) }
        #expect(await eventually { imds.log.contains("ready") })

        // KMS is not reachable in the client namespace (nothing listens on its 127.0.0.1:9):
        // doctor's decrypt fails at once; the credentials and the diagnosis are what matter.
        let config = directory.appendingPathComponent("agent.hcl").path
        try """
            vault { address = "unix:///nonexistent.sock" }
            seal "awskms" {
              region          = "us-east-1"
              kms_key_id      = "alias/vaultd-unseal"
              endpoint        = "http://127.0.0.1:9"
              ciphertext_path = "\(directory.appendingPathComponent("seal.enc").path)"
            }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // A clean AWS environment: nothing but IMDS can supply credentials.
        let environment = ["PATH": "/usr/bin:/bin", "HOME": directory.path]
        return try await TestEnvironment.run("/usr/sbin/ip", ["netns", "exec", "\(prefix)-c", TestEnvironment.executable("unseal-agent"), "doctor", "--config", config],
                                             environment: environment)
    }

    static func milliseconds(_ output: String) -> Int? {
        output.firstMatch(of: /credentials: .*\(in (\d+) ms\)|FAILED after (\d+) ms/).flatMap { Int($0.1 ?? $0.2 ?? "") }
    }

    @Test("hop limit 2 (the documented setting): IMDSv2 works from behind a router",
          .enabled(if: canCreateNamespaces, "cannot create network namespaces here (needs root and ip netns); skipped"))
    func hopLimitTwo() async throws {
        let result = try await Self.doctor(hopLimit: 2, mode: "v1-disabled")
        #expect(result.stdout.contains("credentials: AWSCredentials(ASIA"), "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("IMDSv2 ok"), "\(result.stdout)")
        print("hop limit across namespaces: limit 2, IMDSv2 required: credentials in \(Self.milliseconds(result.stdout) ?? -1) ms")
    }

    @Test("hop limit 1 with IMDSv1 allowed: the token response dies in the router; credentials through IMDSv1, with the fix named",
          .enabled(if: canCreateNamespaces, "cannot create network namespaces here (needs root and ip netns); skipped"))
    func hopLimitOneV1Allowed() async throws {
        let result = try await Self.doctor(hopLimit: 1, mode: "normal")
        #expect(result.stdout.contains("credentials: AWSCredentials(ASIA"), "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("hop limit: the IMDSv2 token PUT timed out but IMDSv1 answered"), "\(result.stdout)")
        #expect(result.stdout.contains("--http-put-response-hop-limit 2"))
        print("hop limit across namespaces: limit 1, IMDSv1 allowed: credentials in \(Self.milliseconds(result.stdout) ?? -1) ms")
    }

    @Test("hop limit 1 with IMDSv1 disabled: no credentials, and the diagnosis says why and how to fix it",
          .enabled(if: canCreateNamespaces, "cannot create network namespaces here (needs root and ip netns); skipped"))
    func hopLimitOneV1Disabled() async throws {
        let result = try await Self.doctor(hopLimit: 1, mode: "v1-disabled")
        #expect(result.status != 0)
        #expect(result.stdout.contains("credentials: FAILED"), "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("hop limit: the IMDSv2 token PUT timed out and IMDSv1 is disabled"), "\(result.stdout)")
        print("hop limit across namespaces: limit 1, IMDSv1 disabled: failed after \(Self.milliseconds(result.stdout) ?? -1) ms")
    }
}
