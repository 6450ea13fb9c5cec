import Foundation
import HCL
import Testing
import VaultServer

/// A Vault server configuration carries over: Vault's spellings are accepted, Vault settings
/// vaultd does not implement are named in a warning, and a seal block is explained.
@Suite("vaultd configuration from Vault's")
struct ServerConfigurationTests {
    static func load(_ text: String) throws -> ServerConfiguration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vaultd-\(UUID().uuidString).hcl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ServerConfiguration.load(path: path, environment: [:])
    }

    static func config(tlsDisable: String, extra: String = "") -> String {
        """
        storage "sqlite" { path = "/tmp/v.db" }
        listener "tcp" {
          address     = "127.0.0.1:8200"
          tls_disable = \(tlsDisable)
        }
        \(extra)
        """
    }

    @Test("tls_disable takes 1, \"1\", true and \"true\" as Vault does", arguments: ["1", "\"1\"", "true", "\"true\"", "\"TRUE\""])
    func tlsDisable(_ value: String) throws {
        let configuration = try Self.load(Self.config(tlsDisable: value))
        #expect(configuration.listeners.count == 1)
    }

    @Test("tls_disable = 2 is an error naming the setting", arguments: ["2", "\"yes\""])
    func badTLSDisable(_ value: String) {
        let error = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: value)) }
        #expect(error?.description.contains("tls_disable") == true, "\(error?.description ?? "")")
    }

    @Test("log levels in any case, as Vault writes them")
    func logLevel() throws {
        #expect(try Self.load(Self.config(tlsDisable: "true", extra: "log_level = \"INFO\"")).logLevel == "info")
        #expect(try Self.load(Self.config(tlsDisable: "true", extra: "log_level = \"Warn\"")).logLevel == "warn")
        #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: "log_level = \"loud\"")) }
    }

    @Test("Vault settings vaultd does not implement are accepted and named in a warning; a typo is still an error")
    func ignoredSettings() throws {
        let configuration = try Self.load(Self.config(tlsDisable: "true", extra: "ui = true\napi_addr = \"https://v:8200\"\ndisable_mlock = true"))
        #expect(configuration.warnings.count == 3)
        for name in ["'ui'", "'api_addr'", "'disable_mlock'"] {
            #expect(configuration.warnings.contains { $0.contains(name) && $0.contains("does not implement") }, "\(configuration.warnings)")
        }
        #expect(try Self.load(Self.config(tlsDisable: "true")).warnings.isEmpty)
        let typo = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: "uii = true")) }
        #expect(typo?.description.contains("'uii'") == true)
    }

    @Test("a seal block in vaultd.hcl is explained: seals belong to unseal-agent")
    func sealBlock() {
        let error = #expect(throws: HCLError.self) {
            try Self.load(Self.config(tlsDisable: "true", extra: "seal \"awskms\" {\n  kms_key_id = \"alias/x\"\n}"))
        }
        #expect(error?.description.contains("belongs to unseal-agent") == true, "\(error?.description ?? "")")
        #expect(error?.location.line == 6, "\(error?.description ?? "")")
    }
}
