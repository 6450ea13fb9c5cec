import Crypto
import Foundation
import SealKit

/// What a non-root token may do inside the vaults it reaches.
public enum Capability: String, Codable, Sendable, CaseIterable {
    /// List and read vaults, keys and secrets (secret values included).
    case read
    /// Create and delete keys and secrets; create vaults (an unscoped token), which it then owns.
    case write
    /// Sign, verify and derive with keys.
    case sign
    /// Encrypt and decrypt with keys.
    case encrypt
}

/// What a token may do. Stored under `tokens/<SHA-256 of the token>`, encrypted under the
/// system key: the token itself is never stored.
public struct TokenRecord: Codable, Sendable, Equatable {
    public var policies: [String]
    /// The vaults a non-root token is limited to (`nil`: the vaults it creates; always `nil` for root).
    public var vaultIDs: [String]?
    /// What a non-root token may do (`nil` for root: everything).
    public var capabilities: [Capability]?
    /// A public name for the token (never the token): vaults record it as their owner.
    public var accessor: String?
    public var createdAt: Date
    public var displayName: String

    public init(policies: [String], vaultIDs: [String]?, capabilities: [Capability]? = nil, accessor: String? = nil, createdAt: Date, displayName: String) {
        self.policies = policies
        self.vaultIDs = vaultIDs
        self.capabilities = capabilities
        self.accessor = accessor
        self.createdAt = createdAt
        self.displayName = displayName
    }

    enum CodingKeys: String, CodingKey {
        case policies, capabilities, accessor
        case vaultIDs = "vault_ids"
        case createdAt = "created_at"
        case displayName = "display_name"
    }

    public var isRoot: Bool { policies.contains("root") }

    /// Whether the token may use `capability` (root may do anything).
    public func has(_ capability: Capability) -> Bool {
        isRoot || (capabilities ?? []).contains(capability)
    }

    /// Whether the token reaches `vault`: root reaches all; others the vaults named at creation
    /// and those they own.
    public func reaches(_ vault: VaultRecord) -> Bool {
        if isRoot { return true }
        if let accessor, vault.owner == accessor { return true }
        return vaultIDs?.contains(vault.id) ?? false
    }

    /// `vd.` followed by 32 random bytes in base64url: 256 bits, never guessable.
    static func newTokenString() throws -> String {
        let bytes = try SystemRandom.bytes(32)
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "vd." + base64
    }

    static func storageKey(for token: String) -> String {
        "tokens/" + Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }

    static func aad(for storageKey: String) -> String { "vaultd:token:" + storageKey }

    func storageOperation(token: String, systemKey: UnsafeRawBufferPointer) throws -> StorageOperation {
        let key = Self.storageKey(for: token)
        let json = Array(try JSONEncoder.vault.encode(self))
        return .put(key, try Envelope.seal(json, key: systemKey, aad: Self.aad(for: key)))
    }

    /// The record sealed under the keyring's active term.
    func storageOperation(token: String, ring: KeyRing) throws -> StorageOperation {
        let key = Self.storageKey(for: token)
        return .put(key, try ring.sealSystem(Array(try JSONEncoder.vault.encode(self)), aad: Self.aad(for: key)))
    }
}

extension VaultCore {
    /// The record of `token`, or a permission error. Needs the vault unsealed.
    public func authenticate(_ token: String?) async throws -> TokenRecord {
        guard let token, !token.isEmpty else {
            throw VaultError(.permissionDenied, "permission denied: send a token in X-Vault-Token or Authorization: Bearer")
        }
        let ring = try requireUnsealed()
        let key = TokenRecord.storageKey(for: token)
        if let cached = tokenRecords[key] { return cached }
        let before = deletions
        guard let envelope = try await storage.get(key) else {
            throw VaultError(.permissionDenied, "permission denied: the token is not valid")
        }
        let record: TokenRecord
        do {
            let json = try ring.openSystem(envelope, aad: TokenRecord.aad(for: key))
            record = try JSONDecoder.vault.decode(TokenRecord.self, from: Data(json))
        } catch {
            throw VaultError(.internalError, "a token record failed to decrypt: the database is damaged")
        }
        if mayCache(since: before) { tokenRecords.set(record, for: key, limit: Self.keyCacheLimit) }
        return record
    }

    /// Creates a token with `record`'s permissions and returns it (the only time it is seen).
    public func createToken(_ record: TokenRecord) async throws -> String {
        let ring = try requireUnsealed()
        let token = try TokenRecord.newTokenString()
        let operation = try record.storageOperation(token: token, ring: ring)
        noteEncryption(ring.activeTerm)
        try await storage.apply([operation])
        return token
    }

    /// Revokes `token`; unknown tokens are not an error (revocation is idempotent).
    public func revokeToken(_ token: String) async throws {
        _ = try requireUnsealed()
        let key = TokenRecord.storageKey(for: token)
        try await storage.apply([.delete(key)])
        tokenRecords[key] = nil
        deletions += 1
    }
}
