import Foundation
import TestSupport
import Testing

/// The install and first-start commands of the deployment guides, run verbatim (each block the
/// guide marks `<!-- test: NAME -->`) as root on a throwaway copy of this machine, so the docs
/// cannot drift from what works.
@Suite("deployment: the guides' commands")
struct DocumentedCommandsTests {
    static let root = TestEnvironment.packageRoot

    /// The fenced block that follows `<!-- test: NAME -->` in a guide.
    static func block(_ name: String, in guide: String) throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent(guide), encoding: .utf8)
        guard let marker = text.range(of: "<!-- test: \(name) -->\n```sh\n"),
              let end = text.range(of: "\n```", range: marker.upperBound..<text.endIndex) else {
            throw TestSupportError("\(guide) has no block marked <!-- test: \(name) -->")
        }
        return String(text[marker.upperBound..<end.lowerBound]) + "\n"
    }

    /// A scratch machine's run: what it printed, its exit status, and where its changes are.
    struct Run {
        let result: ProcessResult
        let changes: URL, logs: URL
        var output: String { result.stdout + result.stderr }
        func log(_ unit: String) -> String { (try? String(contentsOf: logs.appendingPathComponent("\(unit).log"), encoding: .utf8)) ?? "" }
    }

    /// Runs `scripts` (name, text) in order on a scratch copy of this machine, from a stage
    /// directory holding `files` (name → symlink target).
    static func onScratchMachine(_ scripts: [(String, String)], files: [String: String]) async throws -> Run {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("scratch-\(UUID().uuidString.prefix(6))")
        let stage = work.appendingPathComponent("stage"), out = work.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: stage, withIntermediateDirectories: true)
        for (name, target) in files {
            try FileManager.default.createSymbolicLink(atPath: stage.appendingPathComponent(name).path, withDestinationPath: target)
        }
        for (name, text) in scripts {
            try text.write(to: stage.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let harness = root.appendingPathComponent("Tests/IntegrationTests/Oracle/scratch_machine.sh").path
        let result = try await TestEnvironment.run(
            "/usr/bin/unshare", ["--mount", "--pid", "--net", "--fork", "--propagation", "private", "sh", harness, out.path, stage.path] + scripts.map(\.0))
        return Run(result: result, changes: out.appendingPathComponent("changes"), logs: out.appendingPathComponent("logs"))
    }

    static var canRun: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-sysusers") }

    @Test("deploy-systemd.md: install, first start, init and the restart check, verbatim",
          .enabled(if: canRun, "needs root and systemd's tools (CI runs as root; scripts/test installs systemd)"))
    func systemdGuide() async throws {
        let guide = "docs/deploy-systemd.md"
        let inspect = """
            id unseal-agent
            stat -c '%a %U:%G %n' /etc/unseal-agent/unseal-key /etc/unseal-agent/agent.hcl /etc/vaultd/vaultd.hcl /var/lib/vaultd /var/lib/unseal-agent /run/vaultd /run/vaultd/vaultd.sock
            systemctl is-enabled vaultd.service unseal-agent.service
            systemctl is-active vaultd.service unseal-agent.service
            """
        let run = try await Self.onScratchMachine(
            [("install.sh", try Self.block("systemd-install", in: guide)),
             ("first-start.sh", try Self.block("systemd-first-start", in: guide)),
             ("check.sh", try Self.block("systemd-check", in: guide)),
             ("inspect.sh", inspect)],
            files: ["vaultd": TestEnvironment.executable("vaultd"), "unseal-agent": TestEnvironment.executable("unseal-agent"),
                    "vaultctl": TestEnvironment.executable("vaultctl"), "systemd": Self.root.appendingPathComponent("systemd").path])
        #expect(run.result.status == 0, "\(run.output)\nvaultd:\n\(run.log("vaultd.service"))\nagent:\n\(run.log("unseal-agent.service"))")
        // The users from sysusers, the agent in the socket's group.
        #expect(run.output.contains(/uid=\d+\(unseal-agent\) gid=\d+\(unseal-agent\) groups=\d+\(unseal-agent\),\d+\(vaultd\)/))
        // Modes and owners from the guide, the units and tmpfiles.
        for line in ["600 root:root /etc/unseal-agent/unseal-key", "640 root:unseal-agent /etc/unseal-agent/agent.hcl",
                     "640 root:vaultd /etc/vaultd/vaultd.hcl", "700 vaultd:vaultd /var/lib/vaultd",
                     "700 unseal-agent:unseal-agent /var/lib/unseal-agent", "750 vaultd:vaultd /run/vaultd",
                     "660 vaultd:vaultd /run/vaultd/vaultd.sock"] {
            #expect(run.output.contains(line), "expected '\(line)'")
        }
        #expect(run.output.contains("enabled\nenabled\nactive\nactive"))
        // Enabled the way systemd would start them at boot.
        let wants = run.changes.appendingPathComponent("etc/systemd/system/multi-user.target.wants/vaultd.service").path
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: wants)) == "/etc/systemd/system/vaultd.service")
        // Both status checks passed (exit 0 = unsealed); the second unseal after the restart was the agent's.
        #expect(run.output.components(separatedBy: "Sealed           false").count - 1 == 2)
        let agentLog = run.log("unseal-agent.service")
        #expect(agentLog.components(separatedBy: "unsealed").count - 1 >= 1, "\(agentLog)")
        // The key is in no log.
        let phrase = try String(contentsOf: run.changes.appendingPathComponent("etc/unseal-agent/unseal-key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(phrase.split(separator: " ").count == 24)
        #expect(!(run.output + agentLog + run.log("vaultd.service")).contains(phrase))
    }
}
