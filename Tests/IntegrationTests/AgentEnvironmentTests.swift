import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// The agent without a configuration file: the Provide vault's conventions.
@Suite("unseal-agent environment conventions")
struct AgentEnvironmentTests {
    /// A started, initialised vaultd and its key's phrase.
    static func prepare() async throws -> (VaultdHarness, String) {
        let vaultd = try VaultdHarness()
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        return (vaultd, phrase)
    }

    @Test("SEAL_UNSEAL_PROVIDER=docker reads the key file's contents (0444 as Docker mounts it) and unseals")
    func docker() async throws {
        let (vaultd, phrase) = try await Self.prepare()
        defer { vaultd.remove() }
        let secret = vaultd.directory.appendingPathComponent("unseal-key").path
        _ = FileManager.default.createFile(atPath: secret, contents: Data((phrase + "\n").utf8), attributes: [.posixPermissions: 0o444])
        let notify = vaultd.directory.appendingPathComponent("notify.sock").path
        let receiver = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(30)
            print(s.recv(4096).decode(), flush=True)
            """, notify], logPath: vaultd.directory.appendingPathComponent("notify.log").path)
        #expect(await eventually { FileManager.default.fileExists(atPath: notify) })
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run"],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path,
                                     environment: ["SEAL_UNSEAL_PROVIDER": "docker", "SEAL_UNSEAL_KEY_SECRET_PATH": secret,
                                                   "VAULT_ADDR": vaultd.address, "NOTIFY_SOCKET": notify])
        let client = try vaultd.client()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        #expect(await eventually { receiver.log.contains("READY=1") }, "systemd readiness not sent")
        #expect(!agent.log.contains(phrase))
        await agent.stop()
    }

    @Test("SEAL_UNSEAL_PROVIDER=environment takes SEAL_UNSEAL_KEY, warns that it is for development, and check passes")
    func environment() async throws {
        let (vaultd, phrase) = try await Self.prepare()
        defer { vaultd.remove() }
        let base64 = try SealKey(parsing: phrase).encoded(as: .base64)
        let environment = ["SEAL_UNSEAL_PROVIDER": "environment", "SEAL_UNSEAL_KEY": base64, "VAULT_ADDR": vaultd.address]
        var full = ProcessInfo.processInfo.environment
        full.merge(environment) { $1 }
        let check = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["check"], environment: full)
        #expect(check.status == 0, "\(check.stdout)")
        #expect(check.stdout.contains("sealed"))
        let agent = try ChildProcess(TestEnvironment.executable("unseal-agent"), ["run"],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path, environment: environment)
        let client = try vaultd.client()
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "\(agent.log)")
        #expect(agent.log.contains("for development only"))
        #expect(!agent.log.contains(base64))
        await agent.stop()
    }

    @Test("no configuration at all: a one-line error naming what to set")
    func nothing() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "SEAL_UNSEAL_PROVIDER")
        let result = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["run"], environment: environment)
        #expect(result.status == 1)
        #expect(result.stderr.contains("SEAL_UNSEAL_PROVIDER"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
