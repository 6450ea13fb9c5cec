import Foundation
import HTTPTransport
import TestSupport
import Testing
import VaultClient
import VaultWire

/// The systemd units in `systemd/`: valid, tightly sandboxed, and the daemons really work under
/// equivalent restrictions.
@Suite("deployment: systemd")
struct DeploymentTests {
    static let unitsDirectory = TestEnvironment.packageRoot.appendingPathComponent("systemd")

    /// The units with ExecStart= pointing at the built binaries (as if installed on PATH).
    static func installedUnits() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for unit in ["vaultd.service", "unseal-agent.service"] {
            let text = try String(contentsOf: unitsDirectory.appendingPathComponent(unit), encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/", with: TestEnvironment.binDirectory.path + "/")
            try text.write(to: directory.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        return directory
    }

    @Test("systemd-analyze verify is clean and security --offline gives each unit an exposure ≤ 2.0",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze (scripts/test installs systemd)"))
    func units() async throws {
        let directory = try Self.installedUnits()
        defer { SecretLedger.removeDirectory(directory) }
        let units = ["vaultd.service", "unseal-agent.service"].map { directory.appendingPathComponent($0).path }
        let verify = try await TestEnvironment.run("/usr/bin/systemd-analyze", ["verify"] + units)
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stdout)\(verify.stderr)")
        for unit in units {
            let security = try await TestEnvironment.run("/usr/bin/systemd-analyze", ["security", "--offline=yes", unit])
            let line = security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
            let score = line.firstMatch(of: /: (\d+\.\d+)/).flatMap { Double($0.1) }
            print("systemd-analyze security: \(line.replacingOccurrences(of: "→ ", with: ""))")
            #expect(score != nil && score! <= 2.0, "\(security.stdout)")
        }
    }

    @Test("vaultd and the agent run as separate unprivileged users, no capabilities, no_new_privs, read-only root: init, unseal, restart, unseal")
    func restricted() async throws {
        guard getuid() == 0 else {
            Issue.record("this test switches uids and mounts, and must run as root (CI does)")
            return
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("restricted-\(UUID().uuidString.prefix(6))")
        let state = root.appendingPathComponent("var-lib-vaultd"), run = root.appendingPathComponent("run-vaultd")
        let agentState = root.appendingPathComponent("var-lib-unseal-agent")
        for (dir, uid, gid, mode) in [(root, 0, 0, 0o755), (state, 4242, 4242, 0o700), (run, 4242, 4242, 0o750), (agentState, 4243, 4243, 0o700)] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            chown(dir.path, uid_t(uid), gid_t(gid))
            chmod(dir.path, mode_t(mode))
        }
        defer { SecretLedger.removeDirectory(root) }
        let socket = run.appendingPathComponent("vaultd.sock").path
        try """
            storage "sqlite" { path = "\(state.path)/vault.db" }
            listener "unix" { address = "\(socket)"  socket_mode = "0660"  allowed_uids = [4243, 0] }  # 0: this test, watching
            """.write(to: root.appendingPathComponent("vaultd.hcl"), atomically: true, encoding: .utf8)
        try """
            vault { address = "unix://\(socket)" }
            seal "file" { path = "\(agentState.path)/unseal-key" }
            init { enabled = true }
            retry { initial = "50ms"  max = "1s" }
            """.write(to: root.appendingPathComponent("agent.hcl"), atomically: true, encoding: .utf8)
        chmod(root.appendingPathComponent("vaultd.hcl").path, 0o644)
        chmod(root.appendingPathComponent("agent.hcl").path, 0o644)
        let wrapper = TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/restricted.sh").path

        func restricted(_ uid: Int, _ gid: Int, _ groups: String, writable: [URL], _ command: [String], log: String) throws -> ChildProcess {
            try ChildProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "sh", wrapper, String(uid), String(gid), groups,
                                                  writable.map(\.path).joined(separator: ":"), "--"] + command, logPath: log)
        }
        let vaultdCommand = [TestEnvironment.executable("vaultd"), "server", "--config", root.appendingPathComponent("vaultd.hcl").path]
        var vaultd = try restricted(4242, 4242, "4242", writable: [state, run], vaultdCommand, log: root.appendingPathComponent("vaultd.log").path)
        let agent = try restricted(4243, 4243, "4243,4242", writable: [agentState],
                                   [TestEnvironment.executable("unseal-agent"), "run", "--config", root.appendingPathComponent("agent.hcl").path],
                                   log: root.appendingPathComponent("agent.log").path)
        let client = VaultClient(address: try VaultAddress("unix://\(socket)"), token: nil, timeout: .seconds(5))
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "vaultd: \(vaultd.log)\nagent: \(agent.log)")

        await vaultd.stop(signal: SIGKILL)
        vaultd = try restricted(4242, 4242, "4242", writable: [state, run], vaultdCommand, log: root.appendingPathComponent("vaultd.log").path)
        #expect(await eventually { (try? await client.sealStatus())?.sealed == false }, "vaultd: \(vaultd.log)\nagent: \(agent.log)")

        // The sandbox is real: outside the writable directories nothing can be written.
        let probe = try await TestEnvironment.run("/usr/bin/unshare", ["--mount", "--propagation", "private", "sh", wrapper, "4242", "4242", "4242",
                                                                      state.path, "--", "/bin/sh", "-c", "touch \(root.path)/escape || touch /tmp/escape-\(getpid())"])
        #expect(probe.status != 0, "a write outside the state directory succeeded")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("escape").path))
        let key = try FileManager.default.attributesOfItem(atPath: agentState.appendingPathComponent("unseal-key").path)
        #expect((key[.ownerAccountID] as? Int) == 4243)
        #expect(((key[.posixPermissions] as? Int) ?? 0) & 0o077 == 0)
        await agent.stop()
        await vaultd.stop()
    }

    @Test("the sysusers and tmpfiles snippets create the users and directories (systemd-sysusers/-tmpfiles --root)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-sysusers"), "needs systemd (scripts/test installs it)"))
    func sysusersAndTmpfiles() async throws {
        guard getuid() == 0 else {
            Issue.record("systemd-tmpfiles chowns the directories it creates: run as root (CI does)")
            return
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysroot-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(root) }
        let sysusers = try await TestEnvironment.run("/usr/bin/systemd-sysusers", ["--root=\(root.path)", Self.unitsDirectory.appendingPathComponent("vaultd.sysusers.conf").path])
        #expect(sysusers.status == 0, "\(sysusers.stderr)")
        let passwd = try String(contentsOf: root.appendingPathComponent("etc/passwd"), encoding: .utf8)
        let group = try String(contentsOf: root.appendingPathComponent("etc/group"), encoding: .utf8)
        let vaultdUID = passwd.split(separator: "\n").first { $0.hasPrefix("vaultd:") }.map { Int($0.split(separator: ":")[2]) ?? -1 }
        #expect(vaultdUID != nil, "\(passwd)")
        #expect(passwd.split(separator: "\n").contains { $0.hasPrefix("unseal-agent:") }, "\(passwd)")
        let vaultdGroup = group.split(separator: "\n").first { $0.hasPrefix("vaultd:") }.map(String.init) ?? ""
        #expect(vaultdGroup.hasSuffix(":unseal-agent"), "the agent must be in group vaultd: \(group)")
        let tmpfiles = try await TestEnvironment.run("/usr/bin/systemd-tmpfiles", ["--root=\(root.path)", "--create", Self.unitsDirectory.appendingPathComponent("vaultd.tmpfiles.conf").path])
        #expect(tmpfiles.status == 0, "\(tmpfiles.stderr)")
        let state = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("var/lib/vaultd").path)
        #expect(state[.posixPermissions] as? Int == 0o700)
        #expect(state[.ownerAccountID] as? Int == vaultdUID)
        let socketDirectory = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("run/vaultd").path)
        #expect(socketDirectory[.posixPermissions] as? Int == 0o750)
        let auditDirectory = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("var/log/vaultd").path)
        #expect(auditDirectory[.posixPermissions] as? Int == 0o700 && auditDirectory[.ownerAccountID] as? Int == vaultdUID)
    }

    @Test("the example configurations in systemd/ are accepted by vaultd and the agent")
    func exampleConfigurations() async throws {
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(credentials) }
        var environment = ProcessInfo.processInfo.environment
        environment["CREDENTIALS_DIRECTORY"] = credentials.path
        let agent = try await Self.configurationErrors(agent: Self.unitsDirectory.appendingPathComponent("agent.hcl").path, environment: environment)
        #expect(agent == nil, "\(agent ?? "")")
        let vaultd = try await Self.configurationErrors(vaultd: Self.unitsDirectory.appendingPathComponent("vaultd.hcl").path)
        #expect(vaultd == nil, "\(vaultd ?? "")")
    }

    /// The configuration error `unseal-agent check` reports for `path`, or nil when it got past
    /// the configuration (failing later for want of a vault is expected here).
    static func configurationErrors(agent path: String, environment: [String: String]) async throws -> String? {
        let result = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["check", "--config", path], environment: environment)
        return result.stderr.contains("configuration error") ? result.stderr : nil
    }

    /// Starts vaultd on a copy of `path` whose directories and TCP address are moved into a
    /// temporary directory and onto a free loopback port; nil when it comes up and listens.
    static func configurationErrors(vaultd path: String, environment: [String: String] = [:]) async throws -> String? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vaultd-config-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "/var/lib/vaultd", with: directory.path)
            .replacingOccurrences(of: "/run/vaultd", with: directory.path)
            .replacingOccurrences(of: "0.0.0.0:8200", with: "127.0.0.1:\(freePort())")
            .replacingOccurrences(of: "127.0.0.1:8200", with: "127.0.0.1:\(freePort())")
        let copy = directory.appendingPathComponent("vaultd.hcl")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("vaultd.log").path
        let vaultd = try ChildProcess(TestEnvironment.executable("vaultd"), ["server", "--config", copy.path], logPath: log, environment: environment)
        let socket = directory.appendingPathComponent("vaultd.sock").path
        let listening = await eventually { FileManager.default.fileExists(atPath: socket) || !vaultd.isRunning }
        let listened = listening && FileManager.default.fileExists(atPath: socket)
        let output = vaultd.log
        await vaultd.stop()
        return listened ? nil : output
    }
}
