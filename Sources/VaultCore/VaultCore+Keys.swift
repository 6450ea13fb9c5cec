import Foundation
import KeyKit
import SealKit

/// A key as the API shows it: never its private material.
public struct KeyRecord: StoredRecord, Sendable, Equatable {
    static let noun = "key"
    public var id: String
    public var createdAt: Date
    public var vaultID: String
    public var type: KeyType
    public var usage: KeyUsage
    public var spec: KeySpec
    public var name: String
    public var description: String
    public var publicKey: String?
    public var address: String?
    public var fingerprint: String?
    public var hdDerivationPath: String?
    /// Whether `encrypt` takes a nonce from the caller (AES-GCM, ChaCha20-Poly1305 only; set at
    /// creation). Off by default: a nonce used twice under one key hands out the XOR of the two
    /// plaintexts and, for GCM, lets the authentication key be recovered and tags be forged.
    /// Absent in records made before this setting existed: off.
    public var allowCallerNonce: Bool?

    enum CodingKeys: String, CodingKey {
        case id, type, usage, spec, name, description, address, fingerprint
        case allowCallerNonce = "allow_caller_nonce"
        case createdAt = "created_at"
        case vaultID = "vault_id"
        case publicKey = "public_key"
        case hdDerivationPath = "hd_derivation_path"
    }
}

/// What `POST /vaults/{id}/keys` asks for, validated.
public struct KeyRequest: Sendable {
    public var spec: KeySpec
    public var usage: KeyUsage
    public var name: String
    public var description: String
    /// BIP39 only: import this mnemonic instead of generating one.
    public var mnemonic: String?
    /// Return the private material once and store nothing.
    public var ephemeral: Bool
    /// Let `encrypt` take the caller's nonce (see ``KeyRecord/allowCallerNonce``).
    public var allowCallerNonce: Bool

    public init(spec: KeySpec, usage: KeyUsage? = nil, name: String, description: String = "", mnemonic: String? = nil, ephemeral: Bool = false,
                allowCallerNonce: Bool = false) throws(VaultError) {
        if allowCallerNonce && spec.type != .symmetric {
            throw VaultError(.unprocessable, "allow_caller_nonce: only an AES-256-GCM or ChaCha20-Poly1305 key takes a nonce, not \(spec.rawValue)")
        }
        self.allowCallerNonce = allowCallerNonce
        if let usage, !spec.usages.contains(usage) {
            throw VaultError(.unprocessable, "usage: a \(spec.rawValue) key is for \(spec.usages.map(\.rawValue).joined(separator: " or ")), not \(usage.rawValue)")
        }
        if mnemonic != nil && spec != .bip39 {
            throw VaultError(.unprocessable, "mnemonic: only a BIP39 key takes a mnemonic, not \(spec.rawValue)")
        }
        self.spec = spec
        self.usage = usage ?? spec.usages[0]
        self.name = name
        self.description = description
        self.mnemonic = mnemonic
        self.ephemeral = ephemeral
    }
}

/// A key just made: its record, and for an ephemeral key its private material (the only time
/// it is shown: hex, PEM for RSA, the mnemonic for BIP39).
public struct CreatedKey: Sendable {
    public var record: KeyRecord
    public var privateKey: String?
    public var mnemonic: String?
}

extension VaultCore {
    static func keyPath(_ vault: String, _ key: String) -> String { "vaults/\(vault)/keys/\(key)" }
    static func keyMaterialPath(_ vault: String, _ key: String) -> String { "vaults/\(vault)/keymaterial/\(key)" }

    public func createKey(vaultID: String, _ request: KeyRequest) async throws -> CreatedKey {
        let dataKey = try await dataKey(vaultID)
        var material = try VaultError.from { () throws(KeyKitError) -> [UInt8] in
            if let mnemonic = request.mnemonic { return try KeyMaterial.entropy(mnemonic: mnemonic) }
            return try KeyMaterial.generate(request.spec)
        }
        defer { material.wipe() }
        let info = try VaultError.from { () throws(KeyKitError) in try KeyMaterial.publicInfo(request.spec, material) }
        let record = KeyRecord(
            id: UUIDText.random(), createdAt: Date(), vaultID: vaultID, type: request.spec.type, usage: request.usage,
            spec: request.spec, name: request.name, description: request.description, publicKey: info.publicKey,
            address: info.address, fingerprint: info.fingerprint, hdDerivationPath: info.hdDerivationPath,
            allowCallerNonce: request.allowCallerNonce ? true : nil
        )
        if request.ephemeral {
            return try VaultError.from { () throws(KeyKitError) -> CreatedKey in
                request.spec == .bip39
                    ? CreatedKey(record: record, mnemonic: try KeyMaterial.mnemonic(material))
                    : CreatedKey(record: record, privateKey: try KeyMaterial.exported(request.spec, material))
            }
        }
        let keyPath = Self.keyPath(vaultID, record.id)
        let materialPath = Self.keyMaterialPath(vaultID, record.id)
        let meta = try sealRecord(record, path: keyPath, key: dataKey)
        noteEncryption(dataKey.term)
        let sealedMaterial = try dataKey.key.key.reveal { try Envelope.seal(material, key: $0, aad: "vaultd:keymaterial:\(materialPath)", term: dataKey.term) }
        try await storage.apply([.insertNew(materialPath, sealedMaterial), .insertNew(keyPath, meta)])
        return CreatedKey(record: record)
    }

    /// The vault's keys, oldest first, optionally only one spec or type.
    public func listKeys(vaultID: String, spec: KeySpec? = nil, type: KeyType? = nil) async throws -> [KeyRecord] {
        try await readRecords(KeyRecord.self, vaultID: vaultID, prefix: "vaults/\(vaultID)/keys/").filter { record in
            (spec == nil || record.spec == spec) && (type == nil || record.type == type)
        }
    }

    public func key(vaultID: String, keyID: String) async throws -> KeyRecord {
        _ = try requireUnsealed()
        if let cached = keyCache[Self.keyPath(vaultID, keyID)] { return cached.record }
        return try await readRecord(KeyRecord.self, vaultID: vaultID, id: keyID, path: Self.keyPath(vaultID, keyID))
    }

    public func deleteKey(vaultID: String, keyID: String) async throws {
        _ = try await key(vaultID: vaultID, keyID: keyID)
        try await storage.apply([.delete(Self.keyPath(vaultID, keyID)), .delete(Self.keyMaterialPath(vaultID, keyID))])
        keyCache[Self.keyPath(vaultID, keyID)] = nil
        deletions += 1
    }

    /// Runs `body` with a key's private material, after checking the key is for `usage`; the
    /// material is wiped when `body` returns. KeyKit's errors become 422s naming the field.
    public func withKeyMaterial<R>(
        vaultID: String, keyID: String, for usage: KeyUsage, operation: String,
        _ body: (KeyRecord, [UInt8]) throws(KeyKitError) -> R
    ) async throws -> R {
        let key = try await cachedKey(vaultID: vaultID, keyID: keyID)
        guard key.record.usage == usage else {
            throw VaultError(.unprocessable, "key \(keyID) is a \(key.record.spec.rawValue) key for \(key.record.usage.rawValue): it cannot \(operation)")
        }
        var material = try key.material.reveal { Array($0) }
        defer { material.wipe() }
        return try VaultError.from { () throws(KeyKitError) -> R in try body(key.record, material) }
    }

    /// The key from the cache, or read and unwrapped from storage (and then cached, unless a
    /// seal or a deletion happened while the reads were suspended).
    private func cachedKey(vaultID: String, keyID: String) async throws -> CachedKey {
        _ = try requireUnsealed()
        let path = Self.keyPath(vaultID, keyID)
        if let cached = keyCache[path] { return cached }
        let before = deletions
        let record = try await readRecord(KeyRecord.self, vaultID: vaultID, id: keyID, path: path)
        let materialPath = Self.keyMaterialPath(vaultID, keyID)
        guard let envelope = try await storage.get(materialPath) else {
            throw VaultError(.internalError, "the material of key \(keyID) is missing: the database is damaged")
        }
        let key = try await dataKey(vaultID, for: envelope)
        let material: Cloaked
        do {
            material = try Cloaked(try key.key.reveal { try Envelope.openSecret(envelope, key: $0, aad: "vaultd:keymaterial:\(materialPath)") })
        } catch {
            throw VaultError(.internalError, "the material of key \(keyID) failed to decrypt: the database is damaged")
        }
        let cached = CachedKey(record: record, material: material)
        if mayCache(since: before) { keyCache.set(cached, for: path, limit: Self.keyCacheLimit) }
        return cached
    }
}

/// A key kept in memory between operations, as the vault's master keys are: its record, and
/// its private material cloaked (encrypted under the process's cloaking key, opened into
/// locked memory only for the operation at hand). Saves two storage reads and two decryptions
/// per operation; see docs/BENCHMARKS.md.
final class CachedKey: Sendable {
    let record: KeyRecord
    let material: Cloaked

    init(record: KeyRecord, material: consuming Cloaked) {
        self.record = record
        self.material = material
    }
}

extension VaultError {
    /// Runs `body`, turning a ``KeyKitError`` into the matching vault error: the caller's
    /// mistakes are 422, a crypto library failure 500.
    public static func from<R>(_ body: () throws(KeyKitError) -> R) throws(VaultError) -> R {
        do {
            return try body()
        } catch {
            throw VaultError(error.code == .cryptoFailure ? .internalError : .unprocessable, error.message)
        }
    }
}
