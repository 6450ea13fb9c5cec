/// The bodies of Vault's seal operations, as clients send them and as vaultd reads them.

/// `PUT /v1/sys/init`: Vault's fields, plus vaultd's `seal_key` (a key the caller has already
/// stored: the vault is initialised with it instead of generating one).
public struct InitRequest: Codable, Sendable, Equatable {
    public var secretShares: Int
    public var secretThreshold: Int
    public var recoveryShares: Int?
    public var recoveryThreshold: Int?
    /// Key text (phrase, hex or base64). A secret: never log a request that holds one.
    public var sealKey: String?

    public init(secretShares: Int = 1, secretThreshold: Int = 1, recoveryShares: Int? = nil, recoveryThreshold: Int? = nil, sealKey: String? = nil) {
        self.secretShares = secretShares
        self.secretThreshold = secretThreshold
        self.recoveryShares = recoveryShares
        self.recoveryThreshold = recoveryThreshold
        self.sealKey = sealKey
    }

    enum CodingKeys: String, CodingKey {
        case secretShares = "secret_shares", secretThreshold = "secret_threshold"
        case recoveryShares = "recovery_shares", recoveryThreshold = "recovery_threshold"
        case sealKey = "seal_key"
    }

    /// The body as vaultd reads it: missing counts default to 1 (recovery to 0), numbers may be
    /// strings (as Vault accepts them), `pgp_keys` is refused.
    public init(body: RequestBody) throws(WireError) {
        if let pgp = body.object["pgp_keys"] as? [Any], !pgp.isEmpty {
            throw WireError(.badRequest, "pgp_keys are not supported by vaultd")
        }
        self.init(
            secretShares: try body.int("secret_shares") ?? 1,
            secretThreshold: try body.int("secret_threshold") ?? 1,
            recoveryShares: try body.int("recovery_shares") ?? 0,
            recoveryThreshold: try body.int("recovery_threshold") ?? 0,
            sealKey: try body.string("seal_key")
        )
    }
}

/// `PUT /v1/sys/unseal`: a key (or share), or `reset`.
public struct UnsealRequest: Codable, Sendable, Equatable {
    /// Key or share text. A secret: never log a request that holds one.
    public var key: String?
    public var reset: Bool?

    public init(key: String) { self.key = key }
    public init(reset: Bool) { self.reset = reset }

    /// What the body asks for.
    public enum Intent: Sendable, Equatable {
        case key(String)
        case reset
    }

    /// The body as vaultd reads it: `{"reset": true}` wins; otherwise `key` is required.
    /// `{"migrate": true}` (`bao operator unseal -migrate`) is refused: taken as an ordinary
    /// share, it would let an operator believe a seal migration happened.
    public static func intent(of body: RequestBody) throws(WireError) -> Intent {
        if try body.bool("reset") == true { return .reset }
        if try body.bool("migrate") == true {
            throw WireError(.badRequest, "migrate: vaultd has no seal of its own to migrate from or to (its key is pushed in by unseal-agent or an operator); the key was not used and nothing changed. To hand a vault to the agent, put its key where the agent's seal source reads it and unseal without -migrate")
        }
        guard let key = try body.string("key") else {
            throw WireError(.badRequest, "missing 'key': send {\"key\": \"…\"} or {\"reset\": true}")
        }
        return .key(key)
    }
}

/// `PUT sys/generate-root/attempt`: start a root-token generation; without `otp` the vault
/// makes one and returns it once.
public struct GenerateRootAttemptRequest: Codable, Sendable, Equatable {
    public var otp: String?
    public init(otp: String? = nil) { self.otp = otp }
}

/// `PUT sys/rekey/init`: the new split, whether its shares must come back before the switch,
/// and vaultd's `seal_key` (a new key the caller stored already). A secret when it holds one.
public struct RekeyInitRequest: Codable, Sendable, Equatable {
    public var secretShares: Int
    public var secretThreshold: Int
    public var requireVerification: Bool
    public var sealKey: String?

    public init(secretShares: Int, secretThreshold: Int, requireVerification: Bool = false, sealKey: String? = nil) {
        self.secretShares = secretShares
        self.secretThreshold = secretThreshold
        self.requireVerification = requireVerification
        self.sealKey = sealKey
    }

    enum CodingKeys: String, CodingKey {
        case secretShares = "secret_shares"
        case secretThreshold = "secret_threshold"
        case requireVerification = "require_verification"
        case sealKey = "seal_key"
    }
}

/// `PUT sys/generate-root/update` (and `sys/rekey/update`, `…/verify`): a key or share for the
/// attempt named by `nonce`. A secret: never log a request that holds one.
public struct NonceKeyRequest: Codable, Sendable, Equatable {
    public var key: String
    public var nonce: String
    public init(key: String, nonce: String) {
        self.key = key
        self.nonce = nonce
    }
}
