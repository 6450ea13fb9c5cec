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

    @Test("vaultd and the agent, running as an unprivileged user and unsealed: not dumpable, no core files; vaultd's key pages and the agent's cloaking key locked",
          .enabled(if: getuid() == 0, "switches uids: needs root (CI runs as root)"))
    func daemonsAreNotDumpable() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hygiene-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
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
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(vaultd.log)\n\(agent.log)")

        for (name, process) in [("vaultd", vaultd), ("unseal-agent", agent)] {
            // setpriv execs the daemon: same pid.
            #expect(Self.procOwner(process.pid) == 0, "\(name) is dumpable: /proc/\(process.pid) belongs to uid \(Self.procOwner(process.pid) ?? 0)")
            let limits = try String(contentsOfFile: "/proc/\(process.pid)/limits", encoding: .utf8)
            let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
            #expect(core?.split(whereSeparator: \.isWhitespace).dropFirst(4).first == "0", "\(name): \(core ?? "")")
            print("\(name) pid \(process.pid): /proc owner uid \(Self.procOwner(process.pid) ?? 9999) (non-dumpable), VmLck \(Self.vmLockedKB(process.pid)) kB")
        }
        #expect(Self.vmLockedKB(vaultd.pid) > 0)
        // The agent's cloaking key (for cached cloud credentials) is locked from the start.
        #expect(Self.vmLockedKB(agent.pid) > 0)
    }
}

@Suite("secret hygiene: the scanner")
struct SecretScannerTests {
    @Test("scan_secrets.py finds a phrase leaked as hex, a share as base64 and a token verbatim, and passes clean logs",
          .enabled(if: TestEnvironment.shouldRunOracleTests("mnemonic"), "needs the mnemonic oracle: run scripts/test"))
    func scannerFindsLeaks() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("logs"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"
        let share = Data((0..<33).map { UInt8($0) }).base64EncodedString()
        let token = "vd.0123456789abcdefghijklmnopqrstuv"
        let ledger = [phrase, share, token].map { Data($0.utf8).base64EncodedString() }.joined(separator: "\n") + "\n"
        try ledger.write(to: directory.appendingPathComponent("ledger"), atomically: true, encoding: .utf8)
        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/scan_secrets.py").path
        let python = try #require(TestEnvironment.oraclePython)
        try "unsealed sealed_ms=3 target=unix:///run/vaultd/vaultd.sock\n".write(to: directory.appendingPathComponent("logs/clean.log"), atomically: true, encoding: .utf8)
        let clean = try await TestEnvironment.run(python, [script, directory.appendingPathComponent("ledger").path, directory.appendingPathComponent("logs").path])
        #expect(clean.status == 0 && clean.stdout.contains(": 0 hits"), "\(clean.stdout)\(clean.stderr)")

        try "key=\(String(repeating: "0", count: 64)) share \(share) token \(token)\n".write(to: directory.appendingPathComponent("logs/leaky.log"), atomically: true, encoding: .utf8)
        let leaky = try await TestEnvironment.run(python, [script, directory.appendingPathComponent("ledger").path, directory.appendingPathComponent("logs").path])
        #expect(leaky.status == 1, "\(leaky.stdout)")
        #expect(leaky.stdout.contains("phrase as hex") && leaky.stdout.contains(": 3 hits"), "\(leaky.stdout)")
        #expect(!leaky.stdout.contains(token) && !leaky.stdout.contains(share), "the scanner must not print the secrets it finds")
    }
}
