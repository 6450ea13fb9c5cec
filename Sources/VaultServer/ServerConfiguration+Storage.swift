import HCL
import VaultStoragePostgres

/// Where vaultd keeps its records: `storage "sqlite"` (one node, the default) or
/// `storage "postgresql"` (several nodes; leadership with `ha_enabled`).
public enum StorageSettings: Sendable {
    case sqlite(path: String)
    case postgresql(PostgresSettings)

    /// For logs: the file, or the database URL without its password.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgresql(let settings): settings.redactedURL
        }
    }
}

extension ServerConfiguration {
    static let storageKinds = ["sqlite", "postgresql"]

    static func storage(_ block: ConfigBody.Block, environment: [String: String]) throws -> StorageSettings {
        let body = block.body
        switch block.labels[0] {
        case "sqlite":
            try body.checkKeys(["path"])
            return .sqlite(path: try body.requiredString("path"))
        case "postgresql":
            try body.checkKeys(["connection_url", "table", "ha_table", "ha_enabled", "max_parallel", "skip_create_table", "ha_lease_ttl"])
            // Vault's order: the file, then VAULT_PG_CONNECTION_URL (OpenBao: BAO_PG_CONNECTION_URL).
            let url = try body.string("connection_url") ?? environment["VAULT_PG_CONNECTION_URL"] ?? environment["BAO_PG_CONNECTION_URL"]
            guard let url, !url.isEmpty else {
                throw HCLError(.missing, at: block.location, "storage \"postgresql\" needs connection_url (or VAULT_PG_CONNECTION_URL in the environment), e.g. postgres://vaultd:PASSWORD@db.internal:5432/vaultd?sslmode=verify-full")
            }
            var settings = PostgresSettings(connectionURL: url)
            do { _ = try settings.endpoint() } catch let error as PostgresSettingsError {
                throw body.error("connection_url", error.description)
            }
            if let table = try body.string("table") { settings.table = table }
            if let table = try body.string("ha_table") { settings.haTable = table }
            settings.haEnabled = try body.bool("ha_enabled") ?? false
            settings.skipCreateTable = try body.bool("skip_create_table") ?? false
            if let parallel = try body.int("max_parallel") {
                guard parallel >= 2 else { throw body.error("max_parallel", "must be at least 2 (one connection renews the lease while another writes); got \(parallel)") }
                settings.maxParallel = parallel
            }
            if let ttl = try timeout("ha_lease_ttl", in: body) {
                guard ttl >= .milliseconds(300), ttl <= .seconds(60) else {
                    throw body.error("ha_lease_ttl", "must be between 300ms and 60s; got \(ttl)")
                }
                settings.leaseDuration = ttl
            }
            for (name, table) in [("table", settings.table), ("ha_table", settings.haTable)] {
                do { try PostgresSettings.checkTableName(table, setting: name) } catch let error as PostgresSettingsError {
                    throw body.error(name, error.description)
                }
            }
            return .postgresql(settings)
        default:
            throw HCLError(.invalidValue, at: block.location, "storage \"\(block.labels[0])\" is not supported; use storage \"sqlite\" (one node) or storage \"postgresql\" (several nodes)")
        }
    }
}
