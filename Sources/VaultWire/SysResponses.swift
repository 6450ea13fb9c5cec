/// The answers of Vault's `sys` API as vaultd, OpenBao and Vault give them. Decoding ignores
/// fields a server adds; a field only some servers send is optional.

/// `GET /v1/sys/seal-status`, and the answer to `PUT /v1/sys/unseal`.
public struct SealStatusResponse: Codable, Sendable, Equatable {
    public var type: String
    public var initialized: Bool
    public var sealed: Bool
    /// The threshold of shares (`t`) and their number (`n`).
    public var threshold: Int
    public var shares: Int
    public var progress: Int
    public var nonce: String
    public var version: String
    public var buildDate: String?
    public var migration: Bool?
    public var recoverySeal: Bool?
    public var storageType: String?
    /// Only while unsealed.
    public var clusterName: String?
    public var clusterID: String?
    /// vaultd's addition: `"vaultd"` tells a client (the agent) that `sys/init` takes `seal_key`.
    public var implementation: String?

    public init(type: String, initialized: Bool, sealed: Bool, threshold: Int, shares: Int, progress: Int, nonce: String,
                version: String, buildDate: String? = nil, migration: Bool? = nil, recoverySeal: Bool? = nil, storageType: String? = nil,
                clusterName: String? = nil, clusterID: String? = nil, implementation: String? = nil) {
        self.type = type
        self.initialized = initialized
        self.sealed = sealed
        self.threshold = threshold
        self.shares = shares
        self.progress = progress
        self.nonce = nonce
        self.version = version
        self.buildDate = buildDate
        self.migration = migration
        self.recoverySeal = recoverySeal
        self.storageType = storageType
        self.clusterName = clusterName
        self.clusterID = clusterID
        self.implementation = implementation
    }

    /// Whether this server is a vaultd (it takes the `seal_key` init extension).
    public var isVaultd: Bool { implementation == "vaultd" }

    /// Only `initialized` and `sealed` are required: servers and versions differ in the rest
    /// (an uninitialised or older server may leave out the counts, the nonce or the version).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        initialized = try container.decode(Bool.self, forKey: .initialized)
        sealed = try container.decode(Bool.self, forKey: .sealed)
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
        threshold = try container.decodeIfPresent(Int.self, forKey: .threshold) ?? 0
        shares = try container.decodeIfPresent(Int.self, forKey: .shares) ?? 0
        progress = try container.decodeIfPresent(Int.self, forKey: .progress) ?? 0
        nonce = try container.decodeIfPresent(String.self, forKey: .nonce) ?? ""
        version = try container.decodeIfPresent(String.self, forKey: .version) ?? ""
        buildDate = try container.decodeIfPresent(String.self, forKey: .buildDate)
        migration = try container.decodeIfPresent(Bool.self, forKey: .migration)
        recoverySeal = try container.decodeIfPresent(Bool.self, forKey: .recoverySeal)
        storageType = try container.decodeIfPresent(String.self, forKey: .storageType)
        clusterName = try container.decodeIfPresent(String.self, forKey: .clusterName)
        clusterID = try container.decodeIfPresent(String.self, forKey: .clusterID)
        implementation = try container.decodeIfPresent(String.self, forKey: .implementation)
    }

    enum CodingKeys: String, CodingKey {
        case type, initialized, sealed, progress, nonce, version, migration, implementation
        case threshold = "t", shares = "n"
        case buildDate = "build_date", recoverySeal = "recovery_seal", storageType = "storage_type"
        case clusterName = "cluster_name", clusterID = "cluster_id"
    }
}

/// `GET /v1/sys/init`.
public struct InitStatusResponse: Codable, Sendable, Equatable {
    public var initialized: Bool
    public init(initialized: Bool) { self.initialized = initialized }
}

/// The answer to `PUT /v1/sys/init`: the shares (hex and base64), recovery shares, the root
/// token and, from vaultd, the seal key's validation hash. Secrets: never log it.
public struct InitResponse: Codable, Sendable, Equatable {
    public var keys: [String]
    public var keysBase64: [String]
    public var recoveryKeys: [String]?
    public var recoveryKeysBase64: [String]?
    public var rootToken: String
    public var validationHash: String?

    public init(keys: [String], keysBase64: [String], recoveryKeys: [String]? = nil, recoveryKeysBase64: [String]? = nil,
                rootToken: String, validationHash: String? = nil) {
        self.keys = keys
        self.keysBase64 = keysBase64
        self.recoveryKeys = recoveryKeys
        self.recoveryKeysBase64 = recoveryKeysBase64
        self.rootToken = rootToken
        self.validationHash = validationHash
    }

    enum CodingKeys: String, CodingKey {
        case keys
        case keysBase64 = "keys_base64", recoveryKeys = "recovery_keys", recoveryKeysBase64 = "recovery_keys_base64"
        case rootToken = "root_token", validationHash = "validation_hash"
    }
}

/// `GET /v1/sys/health`.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var initialized: Bool
    public var sealed: Bool
    public var standby: Bool
    public var performanceStandby: Bool?
    public var replicationPerformanceMode: String?
    public var replicationDRMode: String?
    public var serverTimeUTC: Int
    public var version: String
    public var clusterName: String?
    public var clusterID: String?

    public init(initialized: Bool, sealed: Bool, standby: Bool, performanceStandby: Bool? = nil, replicationPerformanceMode: String? = nil,
                replicationDRMode: String? = nil, serverTimeUTC: Int, version: String, clusterName: String? = nil, clusterID: String? = nil) {
        self.initialized = initialized
        self.sealed = sealed
        self.standby = standby
        self.performanceStandby = performanceStandby
        self.replicationPerformanceMode = replicationPerformanceMode
        self.replicationDRMode = replicationDRMode
        self.serverTimeUTC = serverTimeUTC
        self.version = version
        self.clusterName = clusterName
        self.clusterID = clusterID
    }

    enum CodingKeys: String, CodingKey {
        case initialized, sealed, standby, version
        case performanceStandby = "performance_standby", replicationPerformanceMode = "replication_performance_mode"
        case replicationDRMode = "replication_dr_mode", serverTimeUTC = "server_time_utc"
        case clusterName = "cluster_name", clusterID = "cluster_id"
    }
}

/// `GET /v1/sys/leader`.
public struct LeaderResponse: Codable, Sendable, Equatable {
    public var haEnabled: Bool
    public var isSelf: Bool
    public var activeTime: String?
    public var leaderAddress: String
    public var leaderClusterAddress: String?
    public var performanceStandby: Bool?
    public var performanceStandbyLastRemoteWAL: Int?

    public init(haEnabled: Bool, isSelf: Bool, activeTime: String? = nil, leaderAddress: String, leaderClusterAddress: String? = nil,
                performanceStandby: Bool? = nil, performanceStandbyLastRemoteWAL: Int? = nil) {
        self.haEnabled = haEnabled
        self.isSelf = isSelf
        self.activeTime = activeTime
        self.leaderAddress = leaderAddress
        self.leaderClusterAddress = leaderClusterAddress
        self.performanceStandby = performanceStandby
        self.performanceStandbyLastRemoteWAL = performanceStandbyLastRemoteWAL
    }

    enum CodingKeys: String, CodingKey {
        case haEnabled = "ha_enabled", isSelf = "is_self", activeTime = "active_time", leaderAddress = "leader_address"
        case leaderClusterAddress = "leader_cluster_address", performanceStandby = "performance_standby"
        case performanceStandbyLastRemoteWAL = "performance_standby_last_remote_wal"
    }
}

/// `GET /v1/auth/token/lookup-self`: the part clients read.
public struct TokenLookupResponse: Codable, Sendable, Equatable {
    /// Vault's token fields, so `bao login` stores the token (it reads `id`) and `bao token
    /// lookup` prints what Vault prints. vaultd's tokens do not expire and are not renewable:
    /// `ttl` 0, no `expire_time`.
    public struct Data: Codable, Sendable, Equatable {
        public var policies: [String]
        public var displayName: String
        public var id: String?
        public var accessor: String?
        public var creationTime: Int?
        public var creationTTL: Int?
        public var issueTime: String?
        public var expireTime: String?
        public var explicitMaxTTL: Int?
        public var ttl: Int?
        public var numUses: Int?
        public var orphan: Bool?
        public var renewable: Bool?
        public var path: String?
        public var type: String?
        public var entityID: String?

        public init(policies: [String], displayName: String) {
            self.policies = policies
            self.displayName = displayName
        }

        enum CodingKeys: String, CodingKey {
            case policies, displayName = "display_name", id, accessor, creationTime = "creation_time", creationTTL = "creation_ttl"
            case issueTime = "issue_time", expireTime = "expire_time", explicitMaxTTL = "explicit_max_ttl", ttl, numUses = "num_uses"
            case orphan, renewable, path, type, entityID = "entity_id"
        }
    }

    public var data: Data
    public init(data: Data) { self.data = data }
}

/// Every error answer: `{"errors": ["…"]}`.
public struct ErrorResponse: Codable, Sendable, Equatable {
    public var errors: [String]
    public init(errors: [String]) { self.errors = errors }
    public init(_ message: String) { self.errors = [message] }
}

/// A success that carries warnings, as Vault's responses do (`{"warnings": [...]}`).
public struct WarningsResponse: Codable, Sendable, Equatable {
    public var warnings: [String]
    public init(warnings: [String]) { self.warnings = warnings }
}

/// `GET sys/ha-status`: the nodes sharing the storage, as far as this node knows them.
public struct HAStatusResponse: Codable, Sendable, Equatable {
    public struct Node: Codable, Sendable, Equatable {
        public var hostname: String
        public var apiAddress: String
        public var clusterAddress: String
        public var activeNode: Bool
        public var lastEcho: String?
        public var version: String

        public init(hostname: String, apiAddress: String, clusterAddress: String = "", activeNode: Bool, lastEcho: String? = nil, version: String) {
            self.hostname = hostname
            self.apiAddress = apiAddress
            self.clusterAddress = clusterAddress
            self.activeNode = activeNode
            self.lastEcho = lastEcho
            self.version = version
        }

        enum CodingKeys: String, CodingKey {
            case hostname, version
            case apiAddress = "api_address", clusterAddress = "cluster_address", activeNode = "active_node", lastEcho = "last_echo"
        }
    }

    public var nodes: [Node]
    public init(nodes: [Node]) { self.nodes = nodes }
}

/// `sys/generate-root/attempt` and `…/update`: a root-token generation, as Vault reports it.
/// `encoded_token` (and Vault's older name `encoded_root_token`) carries the new token XORed
/// with the OTP, base64 without padding; `bao operator generate-root -decode` reverses it.
public struct GenerateRootStatusResponse: Codable, Sendable, Equatable {
    public var started: Bool
    public var nonce: String
    public var progress: Int
    public var required: Int
    public var encodedToken: String
    public var encodedRootToken: String
    public var pgpFingerprint: String
    public var otp: String
    public var otpLength: Int
    public var complete: Bool

    public init(started: Bool, nonce: String, progress: Int, required: Int, encodedToken: String, otp: String, otpLength: Int, complete: Bool) {
        self.started = started
        self.nonce = nonce
        self.progress = progress
        self.required = required
        self.encodedToken = encodedToken
        self.encodedRootToken = encodedToken
        self.pgpFingerprint = ""
        self.otp = otp
        self.otpLength = otpLength
        self.complete = complete
    }

    enum CodingKeys: String, CodingKey {
        case started, nonce, progress, required, otp, complete
        case encodedToken = "encoded_token"
        case encodedRootToken = "encoded_root_token"
        case pgpFingerprint = "pgp_fingerprint"
        case otpLength = "otp_length"
    }
}

/// Vault's answer shape for logical paths: the payload under `data` (OpenBao's authenticated
/// `sys/generate-root-token/*` answers this way; its older `sys/generate-root/*` answers bare).
public struct DataEnvelope<Payload: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var data: Payload
    public init(data: Payload) { self.data = data }
}

/// `POST auth/token/create`: the new token under `auth`, as `bao token create` and hvac read it.
/// vaultd's tokens do not expire (`lease_duration` 0) and are not renewable.
public struct TokenCreateResponse: Codable, Sendable, Equatable {
    public struct Auth: Codable, Sendable, Equatable {
        public var clientToken: String
        public var accessor: String
        public var policies: [String]
        public var tokenPolicies: [String]
        public var metadata: [String: String]?
        public var leaseDuration: Int
        public var renewable: Bool
        public var entityID: String
        public var tokenType: String
        public var orphan: Bool
        public var numUses: Int

        public init(clientToken: String, accessor: String, policies: [String], metadata: [String: String]?) {
            self.clientToken = clientToken
            self.accessor = accessor
            self.policies = policies
            self.tokenPolicies = policies
            self.metadata = metadata
            self.leaseDuration = 0
            self.renewable = false
            self.entityID = ""
            self.tokenType = "service"
            self.orphan = true
            self.numUses = 0
        }

        enum CodingKeys: String, CodingKey {
            case accessor, policies, metadata, renewable, orphan
            case clientToken = "client_token"
            case tokenPolicies = "token_policies"
            case leaseDuration = "lease_duration"
            case entityID = "entity_id"
            case tokenType = "token_type"
            case numUses = "num_uses"
        }
    }

    public var auth: Auth
    public init(auth: Auth) { self.auth = auth }
}

/// `sys/rekey/init`, `…/update` and `…/verify` (and OpenBao's `sys/rotate/root/*`, under
/// `data`): one shape for status and result, as Vault's clients read either from it. `keys`,
/// `keys_base64` (and vaultd's `recovery_keys_base64`, `validation_hash`) only in the answer
/// that made the new key.
public struct RekeyResponse: Codable, Sendable, Equatable {
    public var nonce: String
    public var started: Bool
    public var t: Int
    public var n: Int
    public var progress: Int
    public var required: Int
    public var pgpFingerprints: [String]?
    public var backup: Bool
    public var verificationRequired: Bool
    public var verificationNonce: String
    public var complete: Bool
    public var keys: [String]?
    public var keysBase64: [String]?
    public var recoveryKeysBase64: [String]?
    public var validationHash: String?

    public init(nonce: String, started: Bool, t: Int, n: Int, progress: Int, required: Int, verificationRequired: Bool, verificationNonce: String,
                complete: Bool, keys: [String]?, keysBase64: [String]?, recoveryKeysBase64: [String]?, validationHash: String?) {
        self.nonce = nonce
        self.started = started
        self.t = t
        self.n = n
        self.progress = progress
        self.required = required
        self.pgpFingerprints = nil
        self.backup = false
        self.verificationRequired = verificationRequired
        self.verificationNonce = verificationNonce
        self.complete = complete
        self.keys = keys
        self.keysBase64 = keysBase64
        self.recoveryKeysBase64 = recoveryKeysBase64
        self.validationHash = validationHash
    }

    enum CodingKeys: String, CodingKey {
        case nonce, started, t, n, progress, required, backup, complete, keys
        case pgpFingerprints = "pgp_fingerprints"
        case verificationRequired = "verification_required"
        case verificationNonce = "verification_nonce"
        case keysBase64 = "keys_base64"
        case recoveryKeysBase64 = "recovery_keys_base64"
        case validationHash = "validation_hash"
    }
}

/// Vault's answer shape for `sys` paths it serves through its logical layer: the payload's
/// fields at the top (older clients read them there) and again under `data` (the `api`
/// package's `ParseSecret` reads them there).
public struct TopAndData<Payload: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var data: Payload
    public init(_ payload: Payload) { data = payload }

    enum CodingKeys: String, CodingKey { case data }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decodeIfPresent(Payload.self, forKey: .data) ?? Payload(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try data.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
    }
}

/// `GET sys/key-status`: the keyring's active term, when it was installed (RFC 3339) and how
/// many encryptions it has made.
public struct KeyStatus: Codable, Sendable, Equatable {
    public var term: Int
    public var installTime: String
    public var encryptions: Int

    public init(term: Int, installTime: String, encryptions: Int) {
        self.term = term
        self.installTime = installTime
        self.encryptions = encryptions
    }

    enum CodingKeys: String, CodingKey {
        case term, encryptions
        case installTime = "install_time"
    }
}

public typealias KeyStatusResponse = TopAndData<KeyStatus>

/// `GET sys/rotate/config`: the keyring's automatic rotation.
public struct RotationConfig: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var maxOperations: Int
    public var interval: String

    public init(enabled: Bool, maxOperations: Int, interval: String) {
        self.enabled = enabled
        self.maxOperations = maxOperations
        self.interval = interval
    }

    enum CodingKeys: String, CodingKey {
        case enabled, interval
        case maxOperations = "max_operations"
    }
}

public typealias RotationConfigResponse = TopAndData<RotationConfig>

/// One audit device in `GET sys/audit` (keyed by its path, `file/`), as Vault lists it.
public struct AuditDeviceInfo: Codable, Sendable, Equatable {
    public var type: String
    public var description: String
    public var options: [String: String]
    public var local: Bool
    public var path: String

    public init(type: String, description: String, options: [String: String], local: Bool, path: String) {
        self.type = type
        self.description = description
        self.options = options
        self.local = local
        self.path = path
    }
}

/// `GET sys/audit`: the enabled devices by path.
public typealias AuditListResponse = TopAndData<[String: AuditDeviceInfo]>

/// `POST sys/audit-hash/<path>`: a value as that device's log writes it.
public struct AuditHash: Codable, Sendable, Equatable {
    public var hash: String
    public init(hash: String) { self.hash = hash }
}

public typealias AuditHashResponse = TopAndData<AuditHash>
