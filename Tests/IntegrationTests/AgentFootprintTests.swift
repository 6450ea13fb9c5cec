import Foundation
import TestSupport
import Testing

/// What the agent maps into memory (issue 8's idle RSS): no libcurl and its dependency tree,
/// no full Foundation with ICU. A module that imports Foundation again, or a transport back on
/// libcurl, fails here rather than only in the benchmark.
@Suite("agent footprint")
struct AgentFootprintTests {
    @Test("unseal-agent links neither libcurl nor the full Foundation (FoundationEssentials only)")
    func linkedLibraries() async throws {
        let result = try await TestEnvironment.run("/usr/bin/ldd", [TestEnvironment.executable("unseal-agent")])
        #expect(result.status == 0, "\(result.stderr)")
        let libraries = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for unwanted in ["libcurl", "libFoundation.so", "libFoundationInternationalization", "lib_FoundationICU", "libgnutls", "libldap"] {
            #expect(!libraries.contains { $0.hasPrefix(unwanted) }, "unseal-agent links \(unwanted):\n\(result.stdout)")
        }
        // vaultctl shares the transport: no libcurl there either.
        let vaultctl = try await TestEnvironment.run("/usr/bin/ldd", [TestEnvironment.executable("vaultctl")])
        #expect(!vaultctl.stdout.contains("libcurl"), "\(vaultctl.stdout)")
    }
}
