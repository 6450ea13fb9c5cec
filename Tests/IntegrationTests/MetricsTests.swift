import Foundation
import HTTPTransport
import TestSupport
import VaultClientTestSupport
import Testing

/// Both daemons' metrics as Prometheus reads them: `promtool check metrics` (Debian's
/// prometheus package) finds nothing to fix; vaultd's need a token unless the configuration
/// says otherwise (Vault's `unauthenticated_metrics_access`); durations are labelled by route
/// pattern, never by a path holding ids.
@Suite("metrics: promtool, access, labels")
struct MetricsTests {
    static let promtool = TestEnvironment.packageRoot.appendingPathComponent(".venv/bin/promtool").path
    static var hasPromtool: Bool {
        ProcessInfo.processInfo.environment["REQUIRE_ORACLES"] == "1" || FileManager.default.isExecutableFile(atPath: promtool)
    }

    static func check(_ text: String) async throws -> ProcessResult {
        try await TestEnvironment.run(promtool, ["check", "metrics"], input: text)
    }

    static func metrics(_ vaultd: VaultdHarness, token: String?) async throws -> (status: Int, text: String) {
        var headers = [(String, String)]()
        if let token { headers.append(("X-Vault-Token", token)) }
        let answer = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://localhost/v1/sys/metrics", headers: headers, unixSocketPath: vaultd.socketPath))
        return (answer.status, String(decoding: answer.body, as: UTF8.self))
    }

    @Test("vaultd: a token is needed (the refusal names the setting); the text is promtool-clean, with build, process and per-route duration metrics",
          .enabled(if: hasPromtool, "needs promtool: run scripts/test"))
    func vaultdMetrics() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let initialized = try await vaultd.startUnsealed()
        let root = try vaultd.client(token: initialized.rootToken)
        let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": "m"]) as? [String: Any]
        let id = try #require(vault?["id"] as? String)
        _ = try await root.call("GET", "/api/v1/vaults/\(id)")
        #expect(try await root.send("GET", "/api/v1/vaults/not-a-vault").status == 404)

        let refused = try await Self.metrics(vaultd, token: nil)
        #expect(refused.status == 403 && refused.text.contains("unauthenticated_metrics_access"), "\(refused.text)")
        #expect(try await Self.metrics(vaultd, token: "vd.wrong").status == 403)
        let answer = try await Self.metrics(vaultd, token: initialized.rootToken)
        #expect(answer.status == 200)
        for expected in ["vaultd_build_info{version=", "process_resident_memory_bytes ", "process_open_fds ", "process_start_time_seconds ",
                         "process_cpu_seconds_total ", #"vaultd_http_request_duration_seconds_count{route="/api/v1/vaults/:id",code="200"} 1"#,
                         #"vaultd_http_request_duration_seconds_bucket{route="/api/v1/vaults/:id",code="404",le="+Inf"} 1"#] {
            #expect(answer.text.contains(expected), "missing \(expected)")
        }
        #expect(!answer.text.contains(id), "a path with an id became a label")
        let checked = try await Self.check(answer.text)
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
    }

    @Test("vaultd with telemetry { unauthenticated_metrics_access = true }: served without a token, sealed too; unseals and seals counted; promtool-clean",
          .enabled(if: hasPromtool, "needs promtool: run scripts/test"))
    func unauthenticated() async throws {
        let vaultd = try VaultdHarness(extra: "telemetry {\n  unauthenticated_metrics_access = true\n  prometheus_retention_time = \"24h\"\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let initialized = try await vaultd.client().initializeRecorded()
        let sealed = try await Self.metrics(vaultd, token: nil)
        #expect(sealed.status == 200 && sealed.text.contains("vaultd_sealed 1") && sealed.text.contains("vaultd_unseals_total 0"), "\(sealed.text)")
        // An unseal and a seal are counted.
        _ = try await vaultd.client().unseal(key: initialized.keysBase64[0])
        #expect(try await vaultd.client(token: initialized.rootToken).send("PUT", "/v1/sys/seal").status == 204)
        let after = try await Self.metrics(vaultd, token: nil).text
        #expect(after.contains("vaultd_unseals_total 1") && after.contains("vaultd_seals_total 1") && after.contains("vaultd_sealed 1"), "\(after)")
        #expect(vaultd.log().contains("prometheus_retention_time"), "an ignored Vault setting is named at start")
        let checked = try await Self.check(after)
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
    }

    @Test("unseal-agent: /metrics is promtool-clean, with process metrics",
          .enabled(if: hasPromtool, "needs promtool: run scripts/test"))
    func agentMetrics() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let port = freePort()
        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: vaultd.directory.appendingPathComponent("key").path,
                                                     extra: "init { enabled = true }\ntelemetry { address = \"127.0.0.1:\(port)\" }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        #expect(await eventually { await AgentTests.isUnsealed(try! vaultd.client()) })
        let answer = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics"))
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(answer.status == 200 && text.contains("process_resident_memory_bytes ") && text.contains("unseal_agent_"), "\(text)")
        let checked = try await Self.check(text)
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
    }
}
