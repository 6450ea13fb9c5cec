/// vaultd's answers on the resource API (`/api/v1`) that are not stored records (those are
/// VaultCore's Codable records, encoded as they are).

/// `POST …/keys/{key}/encrypt` and `…/decrypt`: hex ciphertext, or the plaintext.
public struct DataResponse: Codable, Sendable, Equatable {
    public var data: String
    public init(data: String) { self.data = data }
}

/// `POST …/keys/{key}/verify` and `/api/v1/verify`.
public struct VerifyResponse: Codable, Sendable, Equatable {
    public var verified: Bool
    public init(verified: Bool) { self.verified = verified }
}

/// `POST …/keys/{key}/sign`: a hex signature, and for BIP39 keys the address and path used.
public struct SignResponse: Codable, Sendable, Equatable {
    public var signature: String
    public var address: String?
    public var hdDerivationPath: String?

    public init(signature: String, address: String? = nil, hdDerivationPath: String? = nil) {
        self.signature = signature
        self.address = address
        self.hdDerivationPath = hdDerivationPath
    }

    enum CodingKeys: String, CodingKey {
        case signature, address, hdDerivationPath = "hd_derivation_path"
    }
}

/// `POST …/keys/{key}/derive`.
public struct DeriveResponse: Codable, Sendable, Equatable {
    public var address: String
    public var publicKey: String
    public var hdDerivationPath: String

    public init(address: String, publicKey: String, hdDerivationPath: String) {
        self.address = address
        self.publicKey = publicKey
        self.hdDerivationPath = hdDerivationPath
    }

    enum CodingKeys: String, CodingKey {
        case address, publicKey = "public_key", hdDerivationPath = "hd_derivation_path"
    }
}

/// `POST /api/v1/unsealerkey` (dev mode): a fresh key's phrase and validation hash. A secret.
public struct UnsealerKeyResponse: Codable, Sendable, Equatable {
    public var key: String
    public var validationHash: String

    public init(key: String, validationHash: String) {
        self.key = key
        self.validationHash = validationHash
    }

    enum CodingKeys: String, CodingKey {
        case key, validationHash = "validation_hash"
    }
}

/// `POST /api/v1/tokens`: the new token (a secret) and what it may do.
public struct TokenCreatedResponse: Codable, Sendable, Equatable {
    public var token: String
    public var accessor: String
    public var capabilities: [String]
    public var displayName: String
    public var vaultIDs: [String]?

    public init(token: String, accessor: String, capabilities: [String], displayName: String, vaultIDs: [String]?) {
        self.token = token
        self.accessor = accessor
        self.capabilities = capabilities
        self.displayName = displayName
        self.vaultIDs = vaultIDs
    }

    enum CodingKeys: String, CodingKey {
        case token, accessor, capabilities, displayName = "display_name", vaultIDs = "vault_ids"
    }
}

/// A key just created, with what is shown once and never stored: the private key or mnemonic of
/// an ephemeral key, beside the key's record (its fields, at the same level).
public struct KeyCreatedResponse<Record: Encodable & Sendable>: Encodable, Sendable {
    public var record: Record
    public var privateKey: String?
    public var mnemonic: String?

    public init(record: Record, privateKey: String?, mnemonic: String?) {
        self.record = record
        self.privateKey = privateKey
        self.mnemonic = mnemonic
    }

    enum CodingKeys: String, CodingKey {
        case privateKey = "private_key", mnemonic, ephemeral
    }

    public func encode(to encoder: any Encoder) throws {
        try record.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(privateKey, forKey: .privateKey)
        try container.encodeIfPresent(mnemonic, forKey: .mnemonic)
        try container.encode(true, forKey: .ephemeral)
    }
}
