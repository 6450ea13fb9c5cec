import AWSAuth
import SealSourceCore
import LeanFoundation
import HCL
import Logging
import SealSources

/// `unseal-agent.hcl` (or JSON), or — without a file — the environment conventions of Vault
/// (`VAULT_ADDR`) and the Provide vault (`SEAL_UNSEAL_PROVIDER=environment|docker`,
/// `SEAL_UNSEAL_KEY`, `SEAL_UNSEAL_KEY_SECRET_PATH`).
public struct AgentConfiguration: Sendable {
    public struct Target: Sendable {
        public var address: String
        public var caCert: String?
        /// `cluster = "NAME"`: targets with the same name are nodes of one cluster and share its
        /// seal material — one of them is initialised, the others join and are unsealed.
        public var cluster: String?
        /// Where the `vault` block is (`file:line:column`), for messages; empty from the environment.
        public var location = ""

        public init(address: String, caCert: String? = nil, cluster: String? = nil, location: String = "") {
            self.address = address
            self.caCert = caCert
            self.cluster = cluster
            self.location = location
        }
    }

    public struct InitSettings: Sendable {
        public var enabled = false
        public var secretShares = 1
        public var secretThreshold = 1
        public var recoveryShares = 0
        public var recoveryThreshold = 0
        /// `nil` discards the root token; otherwise the file to store it in (mode 0600).
        public var rootTokenPath: String?
    }

    public var targets: [Target]
    public var sources: [any SealSource]
    public var initSettings: InitSettings
    public var telemetryAddress: String?
    public var retry: RetryPolicy
    public var logLevel: String
    public var logFormat: String
    /// Warnings to log at start (e.g. the env source is for development).
    public var warnings: [String]
    /// How often every seal source is fetched to see it still answers (`source_check_interval`):
    /// a broken fallback shows in `unseal_agent_source_up` and the log before it is needed.
    public var sourceCheckInterval: Duration = .seconds(60)
    /// `notify "webhook"` blocks: where sealed/unsealed/init/needs-a-fix events are POSTed.
    public var webhooks: [WebhookSettings] = []

    /// Where a configuration came from, for messages.
    public var origin: String

    // MARK: - From a file

    public static func load(path: String, environment: [String: String]) async throws -> AgentConfiguration {
        let root = try HCLDocument(contentsOf: path).root
        try root.checkKeys(["vault", "seal", "init", "telemetry", "retry", "log_level", "log_format", "source_check_interval", "notify"])
        var warnings = [String]()

        var targets = [Target]()
        for block in try root.blocks("vault", labels: 0) {
            try block.body.checkKeys(["address", "ca_cert", "cluster"])
            let address = try block.body.requiredString("address")
            guard address.hasPrefix("unix:///") || address.hasPrefix("http://") || address.hasPrefix("https://") else {
                throw block.body.error("address", "expected unix:///path, http://host:port or https://host:port; got \"\(address)\"")
            }
            if let earlier = targets.first(where: { $0.address == address }) {
                throw block.body.error("address", "\(address) is watched already by the vault block at \(earlier.location): one block per vault")
            }
            let cluster = try block.body.string("cluster")
            if let cluster, cluster.trimmed.isEmpty { throw block.body.error("cluster", "must be a name such as \"prod\"") }
            targets.append(Target(address: address, caCert: try block.body.string("ca_cert"), cluster: cluster, location: "\(block.location)"))
        }
        if targets.isEmpty, let address = environment["VAULT_ADDR"] {
            targets.append(Target(address: address, caCert: environment["VAULT_CACERT"]))
        }
        guard !targets.isEmpty else {
            throw HCLError(.missing, at: root.location, "no vault to watch: add vault { address = \"unix:///run/vaultd/vaultd.sock\" } (or set VAULT_ADDR)")
        }

        var sources = [any SealSource]()
        for block in try root.blocks("seal", labels: 1) {
            let body = block.body
            switch block.labels[0] {
            case "file":
                try body.checkKeys(["path", "priority", "allow_insecure_permissions"])
                sources.append(FileSealSource(
                    path: try body.requiredString("path"),
                    priority: try body.int("priority") ?? 100,
                    allowInsecurePermissions: try body.bool("allow_insecure_permissions") ?? false,
                    environment: environment
                ))
            case "env":
                try body.checkKeys(["variable", "priority"])
                let source = EnvSealSource(variable: try body.string("variable") ?? "SEAL_UNSEAL_KEY", priority: try body.int("priority") ?? 100, environment: environment)
                warnings.append("seal \"env\" reads the key from \(source.variable): for development only (environment variables leak to child processes and /proc)")
                sources.append(source)
            case "awskms":
                sources.append(try await awsKMSSource(body, environment: environment))
            case "azurekeyvault":
                sources.append(try azureKeyVaultSource(body, environment: environment, warnings: &warnings))
            case "transit":
                sources.append(try transitSource(body, environment: environment))
            case "pkcs11":
                sources.append(try pkcs11Source(body, environment: environment))
            case "gcpckms":
                sources.append(try gcpSource(body, environment: environment))
            case let kind:
                throw HCLError(.invalidValue, at: block.location, "seal \"\(kind)\" is not available in this build; use \"file\", \"env\", \"awskms\", \"azurekeyvault\", \"gcpckms\", \"transit\" or \"pkcs11\"")
            }
            // Two seals keeping material in one file would overwrite each other's.
            if let store = sources.last as? any StoringSealSource, let path = store.localPath,
               let other = sources.dropLast().first(where: { ($0 as? any StoringSealSource)?.localPath == path }) {
                throw HCLError(.invalidValue, at: block.location, "seal \"\(store.kind)\" keeps its material in \(path), as seal \"\(other.kind)\" does: give each its own path (ciphertext_path)")
            }
        }
        sources += try await environmentSources(environment, warnings: &warnings)
        guard !sources.isEmpty else {
            throw HCLError(.missing, at: root.location, "no key source: add seal \"file\" { path = \"/run/secrets/unseal-key\" } (or set SEAL_UNSEAL_PROVIDER)")
        }

        var initSettings = InitSettings()
        if let block = try root.block("init") {
            try block.checkKeys(["enabled", "secret_shares", "secret_threshold", "recovery_shares", "recovery_threshold", "root_token"])
            initSettings.enabled = try block.bool("enabled") ?? true
            initSettings.secretShares = try block.int("secret_shares") ?? 1
            initSettings.secretThreshold = try block.int("secret_threshold") ?? (initSettings.secretShares == 1 ? 1 : 2)
            initSettings.recoveryShares = try block.int("recovery_shares") ?? 0
            initSettings.recoveryThreshold = try block.int("recovery_threshold") ?? (initSettings.recoveryShares > 0 ? min(2, initSettings.recoveryShares) : 0)
            guard (1...255).contains(initSettings.secretShares), (1...initSettings.secretShares).contains(initSettings.secretThreshold) else {
                throw block.error("secret_threshold", "needs 1 ≤ secret_threshold ≤ secret_shares ≤ 255")
            }
            let rootToken = try block.string("root_token") ?? "discard"
            if rootToken == "discard" {
                initSettings.rootTokenPath = nil
            } else if rootToken.hasPrefix("file:") {
                initSettings.rootTokenPath = String(rootToken.dropFirst(5))
            } else {
                throw block.error("root_token", "expected \"discard\" or \"file:/path\"; got \"\(rootToken)\"")
            }
            if initSettings.enabled && !sources.contains(where: { $0 is any StoringSealSource }) {
                throw block.error("enabled", "autonomous init stores the key first, and no seal source can store: add a seal \"file\" block", code: .missing)
            }
            if initSettings.enabled, let store = sources.first(where: { $0 is any StoringSealSource }),
               let (first, second) = Self.undeclaredSharers(targets) {
                throw HCLError(.invalidValue, at: block.location, """
                    the vault blocks at \(first.location) (\(first.address)) and \(second.location) (\(second.address)) share \
                    seal "\(store.kind)" (\(store.name)) with init enabled, but are not declared one cluster: each would be \
                    initialised under its own key, and the store keeps only one. If they are nodes of one cluster, add \
                    cluster = "NAME" (the same name) to both vault blocks; if they are separate vaults, give each its own \
                    agent configuration and seal, or set init { enabled = false }
                    """)
            }
        }

        var telemetry: String?
        if let block = try root.block("telemetry") {
            try block.checkKeys(["address"])
            telemetry = try block.requiredString("address")
        }

        var retry = RetryPolicy()
        if let block = try root.block("retry") {
            try block.checkKeys(["initial", "max"])
            if let value = try Self.duration("initial", in: block) { retry.initial = value }
            if let value = try Self.duration("max", in: block) { retry.maximum = value }
            guard retry.initial <= retry.maximum else { throw block.error("max", "must be at least retry.initial") }
        }

        // Levels and formats in any case, as Vault takes them ("INFO").
        let logLevel = (try root.string("log_level") ?? "info").lowercased()
        guard ["trace", "debug", "info", "warn", "warning", "error"].contains(logLevel) else {
            throw root.error("log_level", "expected trace, debug, info, warn or error; got \"\(logLevel)\"")
        }
        let logFormat = (try root.string("log_format") ?? "text").lowercased()
        guard ["text", "json"].contains(logFormat) else { throw root.error("log_format", "expected \"text\" or \"json\"; got \"\(logFormat)\"") }
        var configuration = AgentConfiguration(
            targets: targets, sources: sources.sorted { $0.priority < $1.priority }, initSettings: initSettings,
            telemetryAddress: telemetry, retry: retry, logLevel: logLevel, logFormat: logFormat, warnings: warnings, origin: path
        )
        if let interval = try Self.duration("source_check_interval", in: root) { configuration.sourceCheckInterval = interval }
        configuration.webhooks = try Self.webhooks(root)
        return configuration
    }

    /// The other nodes of `target`'s cluster (none outside a cluster).
    public func peers(of target: Target) -> [Target] {
        guard let cluster = target.cluster else { return [] }
        return targets.filter { $0.cluster == cluster && $0.address != target.address }
    }

    /// Two targets that would share autonomous init without being one cluster: the first pair
    /// whose `cluster` differs, or that has none. Every target shares the agent's seal sources,
    /// so with init on they must all be nodes of one cluster.
    static func undeclaredSharers(_ targets: [Target]) -> (Target, Target)? {
        guard let first = targets.first else { return nil }
        for other in targets.dropFirst() where first.cluster == nil || other.cluster != first.cluster {
            return (first, other)
        }
        return nil
    }

    // MARK: - From the environment alone

    /// The Provide/Vault conventions without a file: `SEAL_UNSEAL_PROVIDER`, `VAULT_ADDR`.
    public static func fromEnvironment(_ environment: [String: String]) async throws -> AgentConfiguration {
        var warnings = [String]()
        let sources = try await environmentSources(environment, warnings: &warnings)
        guard !sources.isEmpty else {
            throw AgentError("no configuration: pass --config FILE, or set SEAL_UNSEAL_PROVIDER=environment (with SEAL_UNSEAL_KEY) or =docker (with SEAL_UNSEAL_KEY_SECRET_PATH)")
        }
        let address = environment["VAULT_ADDR"] ?? "unix:///run/vaultd/vaultd.sock"
        return AgentConfiguration(
            targets: [Target(address: address, caCert: environment["VAULT_CACERT"])], sources: sources,
            initSettings: InitSettings(), telemetryAddress: nil, retry: RetryPolicy(),
            logLevel: environment["UNSEAL_AGENT_LOG_LEVEL"] ?? "info", logFormat: "text", warnings: warnings, origin: "environment"
        )
    }

    static func environmentSources(_ environment: [String: String], warnings: inout [String]) async throws -> [any SealSource] {
        if environment["VAULT_SEAL_TYPE"] == "awskms" {
            return [try await awsKMSSource(nil, environment: environment)]
        }
        if environment["VAULT_SEAL_TYPE"] == "azurekeyvault" {
            return [try azureKeyVaultSource(nil, environment: environment, warnings: &warnings)]
        }
        if environment["VAULT_SEAL_TYPE"] == "gcpckms" {
            return [try gcpSource(nil, environment: environment)]
        }
        if environment["VAULT_SEAL_TYPE"] == "pkcs11" {
            return [try pkcs11Source(nil, environment: environment)]
        }
        if environment["VAULT_SEAL_TYPE"] == "transit" {
            return [try transitSource(nil, environment: environment)]
        }
        guard let provider = environment["SEAL_UNSEAL_PROVIDER"], !provider.isEmpty else { return [] }
        switch provider {
        case "aws_kms":
            return [try await awsKMSSource(nil, environment: environment)]
        case "azure_key_vault":
            return [try azureKeyVaultSource(nil, environment: environment, warnings: &warnings)]
        case "environment":
            warnings.append("SEAL_UNSEAL_PROVIDER=environment reads the key from SEAL_UNSEAL_KEY: for development only")
            return [EnvSealSource(variable: "SEAL_UNSEAL_KEY", priority: 1000, environment: environment)]
        case "docker":
            let path = environment["SEAL_UNSEAL_KEY_SECRET_PATH"] ?? "/run/secrets/unseal-key"
            // Docker mounts secrets 0444 inside the container's own filesystem: accept that mode.
            return [FileSealSource(path: path, priority: 1000, allowInsecurePermissions: true, environment: environment)]
        default:
            throw AgentError("SEAL_UNSEAL_PROVIDER=\(provider) is not available in this build; use environment, docker, aws_kms or azure_key_vault")
        }
    }
}

extension AgentConfiguration {
    /// `seal "awskms"` from a block (or, with `nil`, from Vault's environment variables:
    /// `VAULT_AWSKMS_SEAL_KEY_ID`, `AWS_REGION`, `AWS_KMS_ENDPOINT`, `UNSEAL_AGENT_CIPHERTEXT_PATH`).
    static func awsKMSSource(_ body: ConfigBody?, environment: [String: String]) async throws -> AWSKMSSealSource {
        if let body {
            try body.checkKeys(["region", "kms_key_id", "endpoint", "ciphertext_path", "encryption_context", "priority",
                                "access_key", "secret_key", "session_token", "fips", "imds_token_timeout", "request_timeout"])
        }
        let keyID = try body?.string("kms_key_id") ?? environment["VAULT_AWSKMS_SEAL_KEY_ID"] ?? environment["AWS_KMS_KEY_ID"]
        guard let keyID, !keyID.isEmpty else {
            if let body { throw body.error("kms_key_id", "is required (a key id, ARN or alias/…)", code: .missing) }
            throw AgentError("VAULT_AWSKMS_SEAL_KEY_ID is required for the awskms seal")
        }
        let ciphertextPath = try body?.string("ciphertext_path") ?? environment["UNSEAL_AGENT_CIPHERTEXT_PATH"] ?? "/var/lib/unseal-agent/seal.enc"
        var context = [String: String]()
        for (key, value) in try body?.stringMap("encryption_context") ?? [] { context[key] = value }
        let endpoint = try body?.string("endpoint").flatMap { $0.isEmpty ? nil : $0 } ?? environment["AWS_KMS_ENDPOINT"]
        var staticCredentials: AWSCredentials?
        if let body, let access = try body.string("access_key") {
            guard let secret = try body.string("secret_key") else { throw body.error("secret_key", "is required with access_key", code: .missing) }
            staticCredentials = AWSCredentials(accessKeyID: access, secretAccessKey: secret, sessionToken: try body.string("session_token"))
        }
        let tokenTimeout = try body.flatMap { try Self.duration("imds_token_timeout", in: $0) } ?? .seconds(1)
        let requestTimeout = try body.flatMap { try Self.duration("request_timeout", in: $0) } ?? .seconds(10)
        let logger = Logger(label: "unseal-agent.aws")
        let imds = IMDSClient(environment: environment, tokenTimeout: tokenTimeout, log: { logger.warning("\($0)") })
        var region = try body?.string("region") ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
        if region == nil || region!.isEmpty {
            do {
                region = try await imds.get("/latest/meta-data/placement/region").trimmed
            } catch {
                if let body { throw body.error("region", "is not set, and IMDS could not tell it: \(error.message)", code: .missing) }
                throw AgentError("AWS_REGION is not set, and IMDS could not tell it: \(error.message)")
            }
        }
        let chain = AWSCredentialChain(staticCredentials: staticCredentials, region: region!, environment: environment, imds: imds)
        let client = KMSClient(region: region!, endpoint: endpoint, fips: try body?.bool("fips") ?? false, credentials: chain, timeout: requestTimeout)
        return AWSKMSSealSource(keyID: keyID, ciphertextPath: ciphertextPath, encryptionContext: context, region: region!,
                                client: client, chain: chain, priority: try body?.int("priority") ?? 100)
    }
}

extension AgentConfiguration {
    /// A duration setting (`"200ms"`, `"2s"`, `"5m"`), or nil when absent; anything else is an
    /// error naming the setting.
    static func duration(_ name: String, in body: ConfigBody) throws(HCLError) -> Duration? {
        guard let text = try body.string(name) else { return nil }
        guard let value = Duration(configText: text), value > .zero else {
            throw body.error(name, "expected a duration such as \"200ms\", \"2s\" or \"5m\"; got \"\(text)\"")
        }
        return value
    }
}

/// An agent error with a message naming what to fix.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
