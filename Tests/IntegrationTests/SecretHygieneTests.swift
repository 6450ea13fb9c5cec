import Foundation
import HTTPTransport
import TestSupport
import Testing
import VaultClient

/// Key material in memory (issue 8): the running daemons cannot be dumped or read through
/// /proc by their own user, and vaultd's key pages are locked.
@Suite("secret hygiene: the running daemons")
struct SecretHygieneTests {
    /// The owner of /proc/PID/environ: the process's uid when it is dumpable, root when not
    /// (the kernel's rule for non-dumpable processes). Only telling for a non-root process.
    static func procOwner(_ pid: Int32) -> uid_t? {
        var info = stat()
        return stat("/proc/\(pid)/environ", &info) == 0 ? info.st_uid : nil
    }

    static func vmLockedKB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmLck:") }
            .flatMap { Int($0.split(whereSeparator: \.isWhitespace)[1]) } ?? -1
    }

    @Test("vaultd and the agent, running as an unprivileged user and unsealed: not dumpable, no core files; vaultd's key pages locked",
          .enabled(if: getuid() == 0, "switches uids: needs root (CI runs as root)"))
    func daemonsAreNotDumpable() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hygiene-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        chown(directory.path, 4242, 4242)
        let socket = directory.appendingPathComponent("vaultd.sock").path
        try """
            storage "sqlite" { path = "\(directory.path)/vault.db" }
            listener "unix" { address = "\(socket)"  socket_mode = "0666" }
            """.write(to: directory.appendingPathComponent("vaultd.hcl"), atomically: true, encoding: .utf8)
        try """
            vault { address = "unix://\(socket)" }
            seal "file" { path = "\(directory.path)/unseal-key" }
            init { enabled = true }
            retry { initial = "50ms"  max = "1s" }
            """.write(to: directory.appendingPathComponent("agent.hcl"), atomically: true, encoding: .utf8)
        for file in ["vaultd.hcl", "agent.hcl"] { chmod(directory.appendingPathComponent(file).path, 0o644) }
        func asUser(_ command: [String], log: String) throws -> ChildProcess {
            try ChildProcess("/usr/bin/setpriv", ["--reuid", "4242", "--regid", "4242", "--clear-groups", "--"] + command,
                             logPath: directory.appendingPathComponent(log).path)
        }
        let vaultd = try asUser([TestEnvironment.executable("vaultd"), "server", "--config", directory.appendingPathComponent("vaultd.hcl").path], log: "vaultd.log")
        defer { kill(vaultd.pid, SIGKILL) }
        let agent = try asUser([TestEnvironment.executable("unseal-agent"), "run", "--config", directory.appendingPathComponent("agent.hcl").path], log: "agent.log")
        defer { kill(agent.pid, SIGKILL) }
        let client = VaultClient(address: try VaultAddress("unix://\(socket)"))
        try #require(await eventually(.seconds(30)) { await AgentTests.isUnsealed(client) }, "\(vaultd.log)\n\(agent.log)")

        for (name, process) in [("vaultd", vaultd), ("unseal-agent", agent)] {
            // setpriv execs the daemon: same pid.
            #expect(Self.procOwner(process.pid) == 0, "\(name) is dumpable: /proc/\(process.pid) belongs to uid \(Self.procOwner(process.pid) ?? 0)")
            let limits = try String(contentsOfFile: "/proc/\(process.pid)/limits", encoding: .utf8)
            let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
            #expect(core?.split(whereSeparator: \.isWhitespace).dropFirst(4).first == "0", "\(name): \(core ?? "")")
            print("\(name) pid \(process.pid): /proc owner uid \(Self.procOwner(process.pid) ?? 9999) (non-dumpable), VmLck \(Self.vmLockedKB(process.pid)) kB")
        }
        #expect(Self.vmLockedKB(vaultd.pid) > 0)
    }
}
