import Foundation
import TestSupport
import Testing

/// Outbound HTTP honours the proxy environment: through `http_proxy` unless `NO_PROXY` names
/// the host. Run through vaultctl in a child process so the environment is its own.
@Suite("proxy environment")
struct ProxyTests {
    @Test("NO_PROXY bypasses the proxy; without it the (dead) proxy is used")
    func noProxy() async throws {
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let line = try #require(vaultd.log().split(separator: "\n").first { $0.contains("vaultd started") })
        let url = try #require(line.split(separator: " ").first { $0.hasPrefix("http://127.0.0.1:") }).trimmingCharacters(in: CharacterSet(charactersIn: ","))

        var environment = ProcessInfo.processInfo.environment
        environment["http_proxy"] = "http://127.0.0.1:9"  // discard port: nothing listens
        environment["VAULT_ADDR"] = url
        environment["NO_PROXY"] = "127.0.0.1"
        let direct = try await TestEnvironment.run(TestEnvironment.executable("vaultctl"), ["status"], environment: environment)
        #expect(direct.stdout.contains("Initialized"), "\(direct.stderr)")

        environment.removeValue(forKey: "NO_PROXY")
        environment.removeValue(forKey: "no_proxy")
        let proxied = try await TestEnvironment.run(TestEnvironment.executable("vaultctl"), ["status"], environment: environment)
        #expect(proxied.status == 1)
        #expect(proxied.stderr.contains("cannot reach the vault"), "\(proxied.stderr)")
    }
}
