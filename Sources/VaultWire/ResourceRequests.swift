/// The bodies a client sends to vaultd's resource API (`/api/v1`), as `vaultctl` writes them.
/// vaultd reads each field with ``RequestBody`` (so a wrong type is named in its error); these
/// types are the shape both sides agree on. Optional fields left `nil` are not sent.

/// `POST /api/v1/vaults`.
public struct VaultCreateRequest: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public init(name: String, description: String = "") {
        self.name = name
        self.description = description
    }
}

/// `POST /api/v1/vaults/{vault}/secrets`. `value` is a secret.
public struct SecretCreateRequest: Codable, Sendable, Equatable {
    public var name: String
    public var value: String
    public var type: String
    public var description: String
    public init(name: String, value: String, type: String, description: String) {
        self.name = name
        self.value = value
        self.type = type
        self.description = description
    }
}

/// `POST /api/v1/vaults/{vault}/keys`. `mnemonic` (BIP39 import) is a secret.
public struct KeyCreateRequest: Codable, Sendable, Equatable {
    public var spec: String
    public var name: String
    public var description: String
    public var ephemeral: Bool
    public var usage: String?
    public var mnemonic: String?
    public init(spec: String, name: String, description: String, ephemeral: Bool, usage: String? = nil, mnemonic: String? = nil) {
        self.spec = spec
        self.name = name
        self.description = description
        self.ephemeral = ephemeral
        self.usage = usage
        self.mnemonic = mnemonic
    }
}

/// `POST …/keys/{key}/encrypt` and `…/decrypt`: the data, and whether the plaintext is `utf8` or
/// `base64`.
public struct KeyDataRequest: Codable, Sendable, Equatable {
    public var data: String
    public var encoding: String
    public init(data: String, encoding: String) {
        self.data = data
        self.encoding = encoding
    }
}

/// The `options` of sign, verify and derive: an RSA algorithm, a BIP39 derivation path.
public struct SignatureOptions: Codable, Sendable, Equatable {
    public struct HDWallet: Codable, Sendable, Equatable {
        public var hdDerivationPath: String
        enum CodingKeys: String, CodingKey { case hdDerivationPath = "hd_derivation_path" }
    }
    public var algorithm: String?
    public var hdwallet: HDWallet?

    /// `nil` when neither is given, so no `options` is sent.
    public init?(algorithm: String?, hdDerivationPath: String?) {
        guard algorithm != nil || hdDerivationPath != nil else { return nil }
        self.algorithm = algorithm
        self.hdwallet = hdDerivationPath.map(HDWallet.init(hdDerivationPath:))
    }
}

/// `POST …/keys/{key}/sign`, `…/verify` (with `signature`) and `…/derive` (options only); and
/// `POST /api/v1/verify`, detached, which also names the `spec` and `public_key`.
public struct SignatureRequest: Codable, Sendable, Equatable {
    public var message: String?
    public var signature: String?
    public var spec: String?
    public var publicKey: String?
    public var options: SignatureOptions?

    public init(message: String? = nil, signature: String? = nil, spec: String? = nil, publicKey: String? = nil, options: SignatureOptions? = nil) {
        self.message = message
        self.signature = signature
        self.spec = spec
        self.publicKey = publicKey
        self.options = options
    }

    enum CodingKeys: String, CodingKey {
        case message, signature, spec, options, publicKey = "public_key"
    }
}

/// `POST /api/v1/tokens`: a token for these capabilities, reaching these vaults (all the
/// creator's when `nil`).
public struct TokenCreateRequest: Codable, Sendable, Equatable {
    public var capabilities: [String]
    public var displayName: String
    public var vaultIDs: [String]?
    public init(capabilities: [String], displayName: String, vaultIDs: [String]?) {
        self.capabilities = capabilities
        self.displayName = displayName
        self.vaultIDs = vaultIDs
    }
    enum CodingKeys: String, CodingKey {
        case capabilities, displayName = "display_name", vaultIDs = "vault_ids"
    }
}

/// `POST /v1/auth/token/revoke`. `token` is a secret.
public struct TokenRevokeRequest: Codable, Sendable, Equatable {
    public var token: String
    public init(token: String) { self.token = token }
}

/// What a client prints from a vault, key or secret record (vaultd's records, as VaultCore
/// encodes them): each field present only in the records that have it. `value`,
/// `privateKey` and `mnemonic` are secrets.
public struct ResourceSummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var description: String?
    public var type: String?
    public var spec: String?
    public var usage: String?
    public var value: String?
    public var address: String?
    public var publicKey: String?
    public var hdDerivationPath: String?
    public var privateKey: String?
    public var mnemonic: String?

    enum CodingKeys: String, CodingKey {
        case id, name, description, type, spec, usage, value, address, mnemonic
        case publicKey = "public_key", hdDerivationPath = "hd_derivation_path", privateKey = "private_key"
    }
}
