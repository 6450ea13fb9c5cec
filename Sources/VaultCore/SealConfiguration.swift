import Foundation

/// What init records in the clear: how the seal key is split and how to recognise it. Nothing
/// here helps an attacker: the validation hash is a SHA-256 of a 256-bit key's phrase.
struct SealConfiguration: Codable, Sendable {
    static let storageKey = "core/seal-config"

    var version = 1
    var type = "shamir"
    var secretShares: Int
    var secretThreshold: Int
    var recoveryShares: Int
    var recoveryThreshold: Int
    var validationHash: String
    var initializedAt: Date
    var clusterName: String
    var clusterID: String

    enum CodingKeys: String, CodingKey {
        case version, type
        case secretShares = "secret_shares"
        case secretThreshold = "secret_threshold"
        case recoveryShares = "recovery_shares"
        case recoveryThreshold = "recovery_threshold"
        case validationHash = "validation_hash"
        case initializedAt = "initialized_at"
        case clusterName = "cluster_name"
        case clusterID = "cluster_id"
    }
}

/// The seal state, as `sys/seal-status` reports it (VaultServer writes it in Vault's shape).
public struct SealStatus: Sendable, Equatable {
    public var type: String
    public var initialized: Bool
    public var sealed: Bool
    public var threshold: Int
    public var shares: Int
    public var progress: Int
    public var nonce: String
    public var version: String
    public var buildDate: String
    public var storageType: String
    public var clusterName: String?
    public var clusterID: String?
    public var recoverySeal: Bool
}

/// What init is asked to do (VaultServer reads it from the wire's `InitRequest`).
public struct InitParameters: Sendable {
    public var secretShares: Int
    public var secretThreshold: Int
    public var recoveryShares: Int
    public var recoveryThreshold: Int
    /// The `seal_key` extension: a key (phrase, base64 or hex) the caller has already stored.
    public var sealKey: String?

    public init(secretShares: Int = 1, secretThreshold: Int = 1, recoveryShares: Int = 0, recoveryThreshold: Int = 0, sealKey: String? = nil) {
        self.secretShares = secretShares
        self.secretThreshold = secretThreshold
        self.recoveryShares = recoveryShares
        self.recoveryThreshold = recoveryThreshold
        self.sealKey = sealKey
    }
}

/// The answer to init: shares (hex and base64), recovery shares, the root token, and — for
/// `vaultd server --dev` and `vaultctl` — the seal key's phrase and validation hash.
public struct InitResult: Sendable {
    public var keys: [String]
    public var keysBase64: [String]
    public var recoveryKeys: [String]
    public var recoveryKeysBase64: [String]
    public var rootToken: String
    public var validationHash: String
    /// The phrase, only when the vault generated the key and `secret_shares` is 1.
    public var phrase: String?
}

/// Build facts reported by seal-status.
public enum VaultBuild {
    public static let version = "0.1.0-dev"
    public static let buildDate = "2026-11-23T00:00:00Z"
}
