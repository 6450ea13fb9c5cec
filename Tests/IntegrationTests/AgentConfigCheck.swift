import Foundation
import TestSupport

/// `unseal-agent check` of a configuration made of `blocks` beside a vault that does not exist:
/// how the tests see what a seal or notify block refuses, and that it names the setting.
enum AgentConfigCheck {
    static func run(_ blocks: String, environment: [String: String] = [:]) async throws -> ProcessResult {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-check-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let config = try TransitSealTests.writeConfig(directory, vaults: [("unix://\(directory.path)/none.sock", nil)],
                                                      seal: blocks.replacingOccurrences(of: "DIRECTORY", with: directory.path))
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        return try await TestEnvironment.run(TestEnvironment.executable("unseal-agent"), ["check", "--config", config], environment: env)
    }
}
