import Foundation
import HCL
import Testing
import VaultServer

/// A Vault server configuration carries over: Vault's spellings are accepted, Vault settings
/// vaultd does not implement are named in a warning, and a seal block is explained.
@Suite("vaultd configuration from Vault's")
struct ServerConfigurationTests {
    static func load(_ text: String, environment: [String: String] = [:]) throws -> ServerConfiguration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vaultd-\(UUID().uuidString).hcl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ServerConfiguration.load(path: path, environment: environment)
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
        let configuration = try Self.load(Self.config(tlsDisable: "true", extra: "ui = true\ncluster_addr = \"https://v:8201\"\ndisable_mlock = true"))
        #expect(configuration.warnings.count == 3)
        for name in ["'ui'", "'cluster_addr'", "'disable_mlock'"] {
            #expect(configuration.warnings.contains { $0.contains(name) && $0.contains("does not implement") }, "\(configuration.warnings)")
        }
        #expect(try Self.load(Self.config(tlsDisable: "true")).warnings.isEmpty)
        let typo = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: "uii = true")) }
        #expect(typo?.description.contains("'uii'") == true)
    }

    @Test("the snapshot block: interval, path and retain (default 24); each bad value is an error naming its setting")
    func snapshotBlock() throws {
        let schedule = try Self.load(Self.config(tlsDisable: "true", extra: "snapshot {\n interval = \"1h\"\n path = \"/var/lib/vaultd/snapshots\"\n}")).snapshotSchedule
        #expect(schedule == SnapshotSchedule(interval: .seconds(3600), directory: "/var/lib/vaultd/snapshots", retain: 24))
        #expect(try Self.load(Self.config(tlsDisable: "true")).snapshotSchedule == nil)
        for (body, setting) in [("interval = \"1h\"", "path"), ("path = \"/s\"", "interval"), ("interval = \"1h\"\n path = \"relative\"", "path"),
                                ("interval = \"soon\"\n path = \"/s\"", "interval"), ("interval = \"1h\"\n path = \"/s\"\n retain = 0", "retain"),
                                ("interval = \"1h\"\n path = \"/s\"\n keep = 3", "keep")] {
            let error = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: "snapshot {\n \(body)\n}")) }
            #expect(error?.description.contains(setting) == true, "\(body): \(error?.description ?? "")")
        }
    }

    @Test("audit blocks: OpenBao's two-label form with options, the one-label shorthand, the JSON form; each bad one an error naming what to fix")
    func auditBlocks() throws {
        let two = try Self.load(Self.config(tlsDisable: "true", extra: """
            audit "file" "main" {
              description = "to disk"
              options {
                file_path = "/var/log/vaultd/audit.log"
                fsync     = false
                mode      = "0640"
              }
            }
            audit "file" { file_path = "stdout" }
            unsafe_allow_api_audit_creation = true
            """))
        #expect(two.auditDevices.map(\.path) == ["main/", "file/"] && two.allowAPIAuditCreation)
        #expect(two.auditDevices[0].options == ["file_path": "/var/log/vaultd/audit.log", "fsync": "false", "mode": "0640"] && two.auditDevices[0].description == "to disk")
        #expect(two.auditDevices.allSatisfy { $0.declared })
        let json = try Self.load(#"{"storage": {"sqlite": {"path": "/tmp/v.db"}}, "listener": {"tcp": {"address": "127.0.0.1:8200", "tls_disable": true}}, "audit": [{"file": {"j": {"options": {"file_path": "/a.log"}}}}]}"#)
        #expect(json.auditDevices.map(\.path) == ["j/"] && !json.allowAPIAuditCreation)
        #expect(try Self.load(Self.config(tlsDisable: "true")).auditDevices.isEmpty)
        for (block, fragment) in [
            ("audit \"syslog\" \"s\" { options { tag = \"x\" } }", "not supported"),
            ("audit \"file\" \"a\" { options { file_path = \"relative.log\" } }", "absolute"),
            ("audit \"file\" \"a\" { options { file_path = \"/a\" } }\naudit \"file\" \"a\" { options { file_path = \"/b\" } }", "a/"),
            ("audit \"file\" \"a\" { options { file_path = \"/a\"\n filter = \"x\" } }", "filter"),
            ("audit \"file\" \"a\" { file_path = \"/a\"\n options { file_path = \"/b\" } }", "both"),
            ("audit \"file\" \"a\" { options { file_path = \"/a\"\n log_raw = true } }", "log_raw"),
            ("audit \"file\" \"a\" \"b\" { }", "1 to 2 labels"),
            ("audit \"file\" \"a\" { options { } }", "file_path"),
        ] {
            let error = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: block)) }
            #expect(error?.description.contains(fragment) == true, "\(block): \(error?.description ?? "")")
        }
    }

    @Test("telemetry: unauthenticated_metrics_access (default false); Vault's other telemetry settings warned about by name; a typo or a bad value is an error")
    func telemetryBlock() throws {
        #expect(try Self.load(Self.config(tlsDisable: "true")).unauthenticatedMetricsAccess == false)
        let open = try Self.load(Self.config(tlsDisable: "true", extra: "telemetry {\n unauthenticated_metrics_access = true\n statsd_address = \"127.0.0.1:8125\"\n}"))
        #expect(open.unauthenticatedMetricsAccess && open.warnings.contains { $0.contains("statsd_address") })
        for (body, setting) in [("unauthenticated_metrics_access = \"maybe\"", "unauthenticated_metrics_access"), ("unauthenticated_metric_access = true", "unauthenticated_metrics_access")] {
            let error = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: "telemetry {\n \(body)\n}")) }
            #expect(error?.description.contains(setting) == true, "\(body): \(error?.description ?? "")")
        }
    }

    @Test("a seal block in vaultd.hcl is explained: seals belong to unseal-agent")
    func sealBlock() {
        let error = #expect(throws: HCLError.self) {
            try Self.load(Self.config(tlsDisable: "true", extra: "seal \"awskms\" {\n  kms_key_id = \"alias/x\"\n}"))
        }
        #expect(error?.description.contains("belongs to unseal-agent") == true, "\(error?.description ?? "")")
        #expect(error?.location.line == 6, "\(error?.description ?? "")")
    }

    @Test("cache_size and disable_cache (Vault's keys): the storage cache is on by default with 131072 entries; bad sizes name the setting")
    func storageCache() throws {
        #expect(try Self.load(Self.config(tlsDisable: "true")).storageCache?.maxEntries == 131_072)
        #expect(try Self.load(Self.config(tlsDisable: "true", extra: "cache_size = \"5000\"")).storageCache?.maxEntries == 5000)
        #expect(try Self.load(Self.config(tlsDisable: "true", extra: "disable_cache = true")).storageCache == nil)
        #expect(try Self.load(Self.config(tlsDisable: "true", extra: "disable_cache = \"false\"")).storageCache != nil)
        for bad in ["cache_size = 1", "cache_size = -5", "cache_size = \"lots\"", "disable_cache = \"maybe\""] {
            let error = #expect(throws: HCLError.self) { try Self.load(Self.config(tlsDisable: "true", extra: bad)) }
            let name = String(bad.prefix { $0 != " " })
            #expect(error?.description.contains(name) == true, "\(error?.description ?? "")")
        }
        let shared = try Self.load(Self.postgres("connection_url = \"postgres://vaultd@db/vault\"") + "\ncache_size = 1000")
        #expect(shared.warnings.contains { $0.contains("cache_size") && $0.contains("no effect") }, "\(shared.warnings)")
    }

    static func postgres(_ body: String, apiAddress: String? = "http://10.0.0.1:8200") -> String {
        let api = apiAddress.map { "api_addr = \"" + $0 + "\"" } ?? ""
        return """
        storage "postgresql" {
          \(body)
        }
        listener "unix" { address = "/tmp/v.sock" }
        \(api)
        """
    }

    @Test("storage \"postgresql\" with Vault's keys: ha_enabled as \"true\" or true, the URL from the file or VAULT_PG_CONNECTION_URL/BAO_PG_CONNECTION_URL")
    func postgresql() throws {
        let url = "postgres://vaultd:pw@db:5432/vault?sslmode=verify-full"
        for flag in ["\"true\"", "true", "1"] {
            let configuration = try Self.load(Self.postgres("connection_url = \"\(url)\"\n ha_enabled = \(flag)\n table = \"kv\"\n ha_table = \"locks\"\n max_parallel = 8\n ha_lease_ttl = \"2s\""))
            guard case .postgresql(let settings) = configuration.storage else { Issue.record("not postgresql"); return }
            #expect(settings.haEnabled && settings.table == "kv" && settings.haTable == "locks" && settings.maxParallel == 8 && settings.leaseDuration == .seconds(2))
            #expect(configuration.apiAddress == "http://10.0.0.1:8200")
            #expect(configuration.storage.description.contains("REDACTED") && !configuration.storage.description.contains("pw@"))
        }
        for variable in ["VAULT_PG_CONNECTION_URL", "BAO_PG_CONNECTION_URL"] {
            let configuration = try Self.load(Self.postgres("ha_enabled = false"), environment: [variable: url])
            guard case .postgresql(let settings) = configuration.storage else { Issue.record("not postgresql"); return }
            #expect(settings.connectionURL == url && !settings.haEnabled)
        }
        // The file wins over the environment, as in Vault.
        let configuration = try Self.load(Self.postgres("connection_url = \"\(url)\""), environment: ["VAULT_PG_CONNECTION_URL": "postgres://other@x/y"])
        guard case .postgresql(let settings) = configuration.storage else { Issue.record("not postgresql"); return }
        #expect(settings.connectionURL == url)
    }

    @Test("bad PostgreSQL settings are errors naming the setting, never showing the password", arguments: [
        ("", "connection_url"),
        ("connection_url = \"mysql://u:hunter2@h/d\"", "connection_url"),
        ("connection_url = \"postgres://u:hunter2@h/d?sslmode=sometimes\"", "sslmode"),
        ("connection_url = \"postgres://u:hunter2@h/d\"\n table = \"kv; DROP TABLE x\"", "table"),
        ("connection_url = \"postgres://u:hunter2@h/d\"\n ha_table = \"1x\"", "ha_table"),
        ("connection_url = \"postgres://u:hunter2@h/d\"\n max_parallel = 1", "max_parallel"),
        ("connection_url = \"postgres://u:hunter2@h/d\"\n ha_lease_ttl = \"50ms\"", "ha_lease_ttl"),
        ("connection_url = \"postgres://u:hunter2@h/d\"\n max_idle_conns = 4", "max_idle_conns"),
    ])
    func badPostgresql(_ body: String, setting: String) {
        let error = #expect(throws: (any Error).self) { try Self.load(Self.postgres(body)) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains(setting), "\(text)")
        #expect(!text.contains("hunter2"), "\(text)")
    }

    @Test("ha_enabled needs api_addr (or VAULT_API_ADDR) as http(s)://HOST:PORT")
    func haNeedsAPIAddress() throws {
        let body = "connection_url = \"postgres://u@h/d\"\n ha_enabled = \"true\""
        let error = #expect(throws: HCLError.self) { try Self.load(Self.postgres(body, apiAddress: nil)) }
        #expect(error?.description.contains("api_addr") == true)
        #expect(throws: HCLError.self) { try Self.load(Self.postgres(body, apiAddress: "10.0.0.1:8200")) }
        #expect(try Self.load(Self.postgres(body, apiAddress: nil), environment: ["VAULT_API_ADDR": "https://v:8200"]).apiAddress == "https://v:8200")
    }
}
