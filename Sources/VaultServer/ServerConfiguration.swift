import Foundation
import HCL
import HTTPServerKit
import SealKit
import VaultCore

/// `vaultd.hcl` (or its JSON form), decoded and checked. Every error names the file, line,
/// column and setting.
public struct ServerConfiguration: Sendable {
    public struct Listener: Sendable {
        public enum Kind: Sendable {
            case unix(path: String, mode: mode_t, allowedUIDs: [UInt32], allowedGIDs: [UInt32])
            case tcp(host: String, port: Int, tlsCertFile: String?, tlsKeyFile: String?)
        }
        public var kind: Kind
        /// The largest request body accepted (Vault's `max_request_size`), in bytes.
        public var maxRequestSize: Int
        /// `max_connections`: this listener's cap (nil: the process budget only).
        public var maxConnections: Int?
        /// `http_read_header_timeout`, `http_read_timeout`, `http_idle_timeout` (Vault's names and defaults).
        public var timeouts = ConnectionTimeouts.vaultDefaults
        /// `allow_seal_operations` (TCP only): take init and unseal here, not only on the Unix socket.
        public var allowSealOperations = false

        public init(kind: Kind, maxRequestSize: Int) {
            self.kind = kind
            self.maxRequestSize = maxRequestSize
        }
    }

    public enum LogFormat: String, Sendable { case text, json }

    public var storage: StorageSettings
    /// `api_addr`: the address other nodes and clients reach this node at; what a standby
    /// forwards to and `sys/leader` names. Needed with `ha_enabled`.
    public var apiAddress: String?
    public var listeners: [Listener]
    public var validationHash: ValidationHash?
    public var logLevel: String
    /// Settings accepted from a Vault configuration that vaultd does not implement: said at
    /// start, by name, rather than silently ignored.
    public var warnings: [String] = []
    public var logFormat: LogFormat

    public static let defaultMaxRequestSize = 2 * 1024 * 1024
    /// The largest secret value, in bytes (`max_secret_size`): 1 MiB.
    public static let defaultMaxSecretSize = 1024 * 1024
    public var maxSecretSize = defaultMaxSecretSize
    /// The `snapshot` block: scheduled snapshots, or nil.
    public var snapshotSchedule: SnapshotSchedule?
    /// The `audit` blocks: devices the file declares (ServerConfiguration+Audit.swift).
    public var auditDevices: [AuditDeviceRecord] = []
    /// `unsafe_allow_api_audit_creation` (OpenBao's name): whether `sys/audit/<path>` may enable
    /// a device. Off by default: a device writes a file vaultd opens, a power an API caller
    /// should not have (OpenBao CVE-2025-54997); declare devices in the file instead.
    public var allowAPIAuditCreation = false
    /// `telemetry { unauthenticated_metrics_access = true }` (Vault's setting): `sys/metrics`
    /// without a token. Off by default, as in Vault; a sealed vault cannot check tokens, so a
    /// monitor that must see `vaultd_sealed` needs it on.
    public var unauthenticatedMetricsAccess = false
    /// The file this was read from: read again at SIGHUP for its audit blocks.
    public var sourcePath: String?
    /// Vault's `cache_size` (entries) and `disable_cache`: the cache of storage entries in front
    /// of the embedded SQLite storage (``CachingStorage``); nil when disabled.
    public var storageCache: CachingStorage.Limits? = CachingStorage.Limits()

    public init(storage: StorageSettings, listeners: [Listener], validationHash: ValidationHash?, logLevel: String = "info", logFormat: LogFormat = .text) {
        self.storage = storage
        self.listeners = listeners
        self.validationHash = validationHash
        self.logLevel = logLevel
        self.logFormat = logFormat
    }

    /// Reads `path`; `environment` overrides (`SEAL_UNSEAL_VALIDATION_HASH`).
    public static func load(path: String, environment: [String: String]) throws -> ServerConfiguration {
        let root = try HCLDocument(contentsOf: path).root
        if root.contains("seal") {
            let location = (try? root.blocks("seal", labels: 1))?.first?.location ?? root.location
            throw HCLError(.unknownKey, at: location, "a seal block belongs to unseal-agent, not vaultd: vaultd holds no cloud credentials by design; move this block into the agent's configuration (docs/unseal-agent.md) and keep only seal_validation_hash here")
        }
        try root.checkKeys(["storage", "listener", "seal_validation_hash", "log_level", "log_format", "max_secret_size", "api_addr", "snapshot", "audit", "unsafe_allow_api_audit_creation", "telemetry", "cache_size", "disable_cache"] + Self.vaultSettingsIgnored)
        let ignored = root.keys.filter { Self.vaultSettingsIgnored.contains($0) }

        let storages = try root.blocks("storage", labels: 1)
        guard let storage = storages.first else {
            throw HCLError(.missing, at: root.location, "a storage block is required, e.g. storage \"sqlite\" { path = \"/var/lib/vaultd/vault.db\" }")
        }
        if storages.count > 1 {
            throw HCLError(.duplicate, at: storages[1].location, "only one storage block is allowed")
        }
        let storageSettings = try Self.storage(storage, environment: environment)

        var listeners = [Listener]()
        for block in try root.blocks("listener", labels: 1) {
            listeners.append(try listener(block))
        }
        guard !listeners.isEmpty else {
            throw HCLError(.missing, at: root.location, "at least one listener is required, e.g. listener \"unix\" { address = \"/run/vaultd/vaultd.sock\" }")
        }

        var validationHash: ValidationHash?
        if let text = environment["SEAL_UNSEAL_VALIDATION_HASH"], !text.isEmpty {
            do { validationHash = try ValidationHash(parsing: text) } catch {
                throw VaultServerError("SEAL_UNSEAL_VALIDATION_HASH: \(error.reason)")
            }
        } else if let text = try root.string("seal_validation_hash") {
            do { validationHash = try ValidationHash(parsing: text) } catch {
                throw root.error("seal_validation_hash", error.reason)
            }
        }

        // Vault takes levels in any case ("INFO").
        let logLevel = (try root.string("log_level") ?? "info").lowercased()
        guard ["trace", "debug", "info", "warn", "warning", "error"].contains(logLevel) else {
            throw root.error("log_level", "expected trace, debug, info, warn or error; got \"\(logLevel)\"")
        }
        let formatText = (try root.string("log_format") ?? "text").lowercased()
        guard let logFormat = LogFormat(rawValue: formatText) else {
            throw root.error("log_format", "expected \"text\" or \"json\"; got \"\(formatText)\"")
        }
        var configuration = ServerConfiguration(storage: storageSettings, listeners: listeners, validationHash: validationHash, logLevel: logLevel, logFormat: logFormat)
        if let size = try root.int("max_secret_size") {
            guard size >= 1 else { throw root.error("max_secret_size", "must be at least 1 byte; got \(size)") }
            configuration.maxSecretSize = size
        }
        configuration.apiAddress = try root.string("api_addr") ?? environment["VAULT_API_ADDR"]
        if let entries = try root.int("cache_size") {
            guard entries >= 2 else { throw root.error("cache_size", "must be at least 2 entries; got \(entries) (to turn the cache off, set disable_cache = true)") }
            configuration.storageCache?.maxEntries = entries
        }
        if try root.bool("disable_cache") == true { configuration.storageCache = nil }
        configuration.snapshotSchedule = try snapshotSchedule(root)
        configuration.auditDevices = try auditDevices(root)
        configuration.allowAPIAuditCreation = try root.bool("unsafe_allow_api_audit_creation") ?? false
        configuration.sourcePath = path
        var telemetryWarnings = [String]()
        if let telemetry = try root.block("telemetry") {
            try telemetry.checkKeys(["unauthenticated_metrics_access"] + Self.vaultTelemetryIgnored)
            configuration.unauthenticatedMetricsAccess = try telemetry.bool("unauthenticated_metrics_access") ?? false
            telemetryWarnings = telemetry.keys.filter { Self.vaultTelemetryIgnored.contains($0) }
                .map { "\(path): telemetry › '\($0)' is a Vault setting vaultd does not implement (it serves Prometheus' text at sys/metrics only); it is ignored" }
        }
        if case .postgresql(let settings) = storageSettings, settings.haEnabled {
            guard let address = configuration.apiAddress, address.hasPrefix("http://") || address.hasPrefix("https://") else {
                throw HCLError(.missing, at: storage.location, "storage \"postgresql\" with ha_enabled needs api_addr (or VAULT_API_ADDR): the http(s)://HOST:PORT of one of this node's TCP listeners, where standbys forward requests, e.g. api_addr = \"https://vault-0.internal:8200\"")
            }
        }
        configuration.warnings = ignored.map { "\(path): '\($0)' is a Vault setting vaultd does not implement; it is ignored" } + telemetryWarnings
        if case .postgresql = storageSettings, root.contains("cache_size") {
            configuration.warnings.append("\(path): 'cache_size' has no effect with storage \"postgresql\": shared storage is never cached, since another node may write it")
        }
        return configuration
    }

    /// Vault's other `telemetry` settings (statsd, circonus, dogstatsd, retention, …): accepted
    /// and named in a warning.
    static let vaultTelemetryIgnored = [
        "prometheus_retention_time", "disable_hostname", "enable_hostname_label", "usage_gauge_period", "maximum_gauge_cardinality",
        "lease_metrics_epsilon", "num_lease_metrics_buckets", "add_lease_metrics_namespace_labels", "filter_default", "prefix_filter",
        "statsite_address", "statsd_address", "dogstatsd_addr", "dogstatsd_tags", "circonus_api_token", "circonus_api_app",
        "circonus_api_url", "circonus_submission_interval", "circonus_submission_url", "circonus_check_id",
        "stackdriver_project_id", "stackdriver_location", "stackdriver_namespace", "stackdriver_debug_logs",
    ]

    /// Top-level settings of a Vault server configuration that vaultd accepts, so that an existing
    /// file carries over, but does not implement. Each one found is named in a warning at start.
    static let vaultSettingsIgnored = [
        "ui", "cluster_addr", "cluster_name", "disable_mlock", "default_lease_ttl",
        "max_lease_ttl", "plugin_directory", "pid_file", "raw_storage_endpoint", "introspection_endpoint",
        "disable_clustering", "disable_performance_standby", "log_file", "log_rotate_duration", "log_rotate_bytes",
        "log_rotate_max_files", "enable_response_header_hostname", "enable_response_header_raft_node_id",
    ]

    /// `snapshot { interval = "1h"  path = "/var/lib/vaultd/snapshots"  retain = 24 }`.
    static func snapshotSchedule(_ root: ConfigBody) throws -> SnapshotSchedule? {
        let blocks = try root.blocks("snapshot", labels: 0)
        guard let block = blocks.first else { return nil }
        if blocks.count > 1 { throw HCLError(.duplicate, at: blocks[1].location, "only one snapshot block is allowed") }
        let body = block.body
        try body.checkKeys(["interval", "path", "retain"])
        guard let interval = try timeout("interval", in: body) else {
            throw HCLError(.missing, at: block.location, "snapshot needs interval, how often to take one, e.g. interval = \"1h\"")
        }
        guard interval >= .seconds(1) else { throw body.error("interval", "must be at least 1s; got \(interval)") }
        guard let path = try body.string("path"), path.hasPrefix("/") else {
            throw HCLError(.missing, at: block.location, "snapshot needs path, an absolute directory for the files, e.g. path = \"/var/lib/vaultd/snapshots\"")
        }
        let retain = try body.int("retain") ?? SnapshotSchedule.defaultRetain
        guard retain >= 1 else { throw body.error("retain", "must be at least 1 (how many snapshots to keep); got \(retain)") }
        return SnapshotSchedule(interval: interval, directory: path, retain: retain)
    }

    /// Settings every listener takes: the connection budget and timeouts.
    static let connectionKeys = ["max_request_size", "max_connections", "http_read_header_timeout", "http_read_timeout", "http_idle_timeout"]

    private static func listener(_ block: ConfigBody.Block) throws -> Listener {
        var listener = try baseListener(block)
        let body = block.body
        if let cap = try body.int("max_connections") {
            guard cap >= 1 else { throw body.error("max_connections", "must be at least 1; got \(cap)") }
            listener.maxConnections = cap
        }
        for (name, path) in [("http_read_header_timeout", \ConnectionTimeouts.readHeader), ("http_read_timeout", \.read), ("http_idle_timeout", \.idle)] {
            if let value = try timeout(name, in: body) { listener.timeouts[keyPath: path] = value }
        }
        if case .tcp = listener.kind {
            listener.allowSealOperations = try body.bool("allow_seal_operations") ?? false
        }
        return listener
    }

    /// A timeout: `"10s"`, `"500ms"`, `"5m"`, or a whole number of seconds.
    static func timeout(_ name: String, in body: ConfigBody) throws -> Duration? {
        if let seconds = try? body.int(name) {
            guard seconds > 0 else { throw body.error(name, "must be positive; got \(seconds)") }
            return .seconds(seconds)
        }
        guard let text = try body.string(name) else { return nil }
        guard let value = Duration(configText: text), value > .zero else {
            throw body.error(name, "expected a duration such as \"10s\" or \"5m\"; got \"\(text)\"")
        }
        return value
    }

    private static func baseListener(_ block: ConfigBody.Block) throws -> Listener {
        let body = block.body
        let maxRequestSize = try body.int("max_request_size") ?? defaultMaxRequestSize
        guard maxRequestSize >= 1024 else {
            throw body.error("max_request_size", "must be at least 1024 bytes")
        }
        switch block.labels[0] {
        case "unix":
            try body.checkKeys(["address", "socket_mode", "allowed_uids", "allowed_gids"] + connectionKeys)
            let address = try body.requiredString("address")
            let modeText = try body.string("socket_mode") ?? "0660"
            guard let mode = mode_t(modeText, radix: 8), mode <= 0o777 else {
                throw body.error("socket_mode", "expected an octal mode such as \"0660\"; got \"\(modeText)\"")
            }
            let uids = try (body.intList("allowed_uids") ?? []).map { try id($0, body, "allowed_uids") }
            let gids = try (body.intList("allowed_gids") ?? []).map { try id($0, body, "allowed_gids") }
            return Listener(kind: .unix(path: address, mode: mode, allowedUIDs: uids, allowedGIDs: gids), maxRequestSize: maxRequestSize)
        case "tcp":
            try body.checkKeys(["address", "tls_disable", "tls_cert_file", "tls_key_file", "allow_seal_operations"] + connectionKeys)
            let address = try body.string("address") ?? "127.0.0.1:8200"
            guard let (host, port) = parseHostPort(address) else {
                throw body.error("address", "expected HOST:PORT such as \"127.0.0.1:8200\"; got \"\(address)\"")
            }
            let tlsDisable = try body.bool("tls_disable") ?? false
            let cert = try body.string("tls_cert_file")
            let key = try body.string("tls_key_file")
            if tlsDisable {
                return Listener(kind: .tcp(host: host, port: port, tlsCertFile: nil, tlsKeyFile: nil), maxRequestSize: maxRequestSize)
            }
            guard let cert, let key else {
                throw HCLError(.missing, at: block.location, "listener \"tcp\": set tls_cert_file and tls_key_file, or tls_disable = true (only for loopback or a TLS-terminating proxy)")
            }
            return Listener(kind: .tcp(host: host, port: port, tlsCertFile: cert, tlsKeyFile: key), maxRequestSize: maxRequestSize)
        default:
            throw HCLError(.invalidValue, at: block.location, "listener \"\(block.labels[0])\" is not supported; use \"unix\" or \"tcp\"")
        }
    }

    private static func id(_ value: Int, _ body: ConfigBody, _ name: String) throws -> UInt32 {
        guard let id = UInt32(exactly: value) else { throw body.error(name, "\(value) is not a valid id") }
        return id
    }

    /// "127.0.0.1:8200", "[::1]:8200", ":8200" (all interfaces is spelled 0.0.0.0 explicitly).
    static func parseHostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        return (host, port)
    }
}
