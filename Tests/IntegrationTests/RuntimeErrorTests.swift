import Foundation
import TestSupport
import Testing

/// Runtime failures read as one line naming the cause and what to change, never a library's
/// type dump.
@Suite("runtime errors in words")
struct RuntimeErrorTests {
    @Test("a port already taken: vaultd's listener and the agent's telemetry each say so in one line and exit 1")
    func portInUse() async throws {
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) } }
        _ = listen(holder, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))

        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        let server = try await TestEnvironment.run(TestEnvironment.executable("vaultd"), ["server", "--config", vaultd.configPath], timeout: .seconds(120))
        let serverError = server.stderr.split(separator: "\n").filter { $0.contains("error") }
        #expect(server.status == 1 && serverError.count == 1, "\(server.stderr)")
        #expect(server.stderr.contains("already in use") && !server.stderr.contains("errno") && !server.stderr.contains("descriptor"), "\(server.stderr)")

        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: vaultd.directory.appendingPathComponent("key").path,
                                                     extra: "telemetry { address = \"127.0.0.1:\(port)\" }")
        let agent = try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["run", "--config", config], timeout: .seconds(120))
        #expect(agent.status != 0 && agent.stderr.contains("telemetry.address") && agent.stderr.contains("already in use"), "\(agent.stderr)")
        #expect(!agent.stderr.contains("errno") && !agent.stderr.contains("descriptor"), "\(agent.stderr)")
    }
}
