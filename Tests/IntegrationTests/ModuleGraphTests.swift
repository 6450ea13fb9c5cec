import Foundation
import TestSupport
import Testing

/// "vaultd holds no cloud credentials" by construction: the server links no AWS or Azure code.
/// `scripts/check-module-graph` (run by scripts/test before the build; `swift package` cannot run
/// inside `swift test`, which holds the build lock) proves it on the package graph, and that every
/// import is a declared edge; this proves it on the binary that ships.
@Suite("module graph")
struct ModuleGraphTests {
    /// Swift mangles a module name as its length and the name: every type, function and
    /// metadata record of module `AWSAuth` carries `7AWSAuth` in the binary's symbols.
    static let cloudModules = ["AWSAuth", "AzureAuth", "GCPAuth", "TransitSeal", "PKCS11Seal", "SealSources", "SealSourceCore"]

    static func mangledModules(in path: String) throws -> Set<String> {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        return Set(cloudModules.filter { bytes.range(of: Data("\($0.utf8.count)\($0)".utf8)) != nil })
    }

    @Test("the vaultd binary contains no AWS, Azure or seal-source code; the agent's does (the scan sees it)")
    func vaultdHasNoCloudCode() throws {
        #expect(try Self.mangledModules(in: TestEnvironment.executable("vaultd")).isEmpty)
        #expect(try Self.mangledModules(in: TestEnvironment.executable("unseal-agent")) == Set(Self.cloudModules))
    }
}
