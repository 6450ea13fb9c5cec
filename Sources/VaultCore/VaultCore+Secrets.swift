import Foundation
import LeanFoundation
import SealKit

/// A vault: a container of keys and secrets with its own master key.
public struct VaultRecord: Codable, Sendable, Equatable {
    public var id: String
    public var createdAt: Date
    public var name: String
    public var description: String
    /// The accessor of the token that created it (`root` for the root token): a vault is
    /// deleted only by its owner or the root token.
    public var owner: String?

    enum CodingKeys: String, CodingKey {
        case id, name, description, owner
        case createdAt = "created_at"
    }
}

/// A secret; `value` is present only when one secret is read.
public struct SecretRecord: StoredRecord, Sendable, Equatable {
    static let noun = "secret"
    public var id: String
    public var createdAt: Date
    public var vaultID: String
    public var type: String
    public var name: String
    public var description: String
    public var value: String?

    enum CodingKeys: String, CodingKey {
        case id, type, name, description, value
        case createdAt = "created_at"
        case vaultID = "vault_id"
    }
}

extension SecretRecord {
    /// Read from storage without `JSONDecoder` (``FlatJSON``): nil when a field is missing or
    /// not in the form ``flatJSONWriter()`` writes.
    init?(flatFields fields: FlatJSONFields) {
        guard let id = fields["id"], let createdAt = fields["created_at"].flatMap(FlatJSON.parseISO8601), let vaultID = fields["vault_id"],
              let type = fields["type"], let name = fields["name"], let description = fields["description"] else { return nil }
        self.init(id: id, createdAt: createdAt, vaultID: vaultID, type: type, name: name, description: description, value: fields["value"])
    }

    /// The record as its `Codable` form writes it, for ``FlatJSONWriter``: what a secret read
    /// answers and what storage keeps.
    public func flatJSONWriter() -> FlatJSONWriter {
        var writer = FlatJSONWriter()
        writer.add("id", id)
        writer.add("created_at", createdAt)
        writer.add("vault_id", vaultID)
        writer.add("type", type)
        writer.add("name", name)
        writer.add("description", description)
        writer.add("value", value)
        return writer
    }

    var flatJSON: FlatJSONWriter? { flatJSONWriter() }
}

extension VaultCore {
    static func vaultPrefix(_ id: String) -> String { "vaults/\(id)/" }
    static func masterPath(_ id: String) -> String { "vaults/\(id)/master" }
    static func metaPath(_ id: String) -> String { "vaults/\(id)/meta" }
    static func secretPath(_ vault: String, _ secret: String) -> String { "vaults/\(vault)/secrets/\(secret)" }

    // MARK: Vaults

    public func createVault(name: String, description: String, owner: String? = "root") async throws -> VaultRecord {
        try await waitForRekeyCommit()
        sealKeyWritersInFlight += 1
        defer { sealKeyWritersInFlight -= 1 }
        let ring = try requireUnsealed()
        let record = VaultRecord(id: UUIDText.random(), createdAt: Date(), name: name, description: description, owner: owner)
        let master = try SecretBytes.random(count: 32)
        let masterEnvelope = try ring.sealKey.reveal { sealKey in
            try master.withUnsafeBytes { try Envelope.seal($0, key: sealKey, aad: "vaultd:vault-master:\(record.id)") }
        }
        let meta = try ring.sealSystem(Array(try JSONEncoder.vault.encode(record)), aad: "vaultd:vault-meta:\(record.id)")
        noteEncryption(ring.activeTerm)
        try await storage.apply([.insertNew(Self.masterPath(record.id), masterEnvelope), .put(Self.metaPath(record.id), meta)])
        masterKeys[record.id] = try CloakedKey(master)
        vaultRecords[record.id] = record
        return record
    }

    public func listVaults() async throws -> [VaultRecord] {
        let ring = try requireUnsealed()
        var out = [VaultRecord]()
        for key in try await storage.list(prefix: "vaults/") where key.hasSuffix("/meta") {
            let id = String(key.dropFirst("vaults/".count).dropLast("/meta".count))
            guard let envelope = try await storage.get(key) else { continue }
            out.append(try decodeMeta(envelope, id: id, ring: ring))
        }
        return out.sorted { $0.createdAt < $1.createdAt }
    }

    public func vault(_ id: String) async throws -> VaultRecord {
        let ring = try requireUnsealed()
        if let cached = vaultRecords[id] { return cached }
        let before = deletions
        guard Self.isValidID(id), let envelope = try await storage.get(Self.metaPath(id)) else {
            throw VaultError(.notFound, "vault not found")
        }
        let record = try decodeMeta(envelope, id: id, ring: ring)
        if mayCache(since: before) { vaultRecords[id] = record }
        return record
    }

    /// Deletes a vault with everything in it: its master key, keys, key material and secrets.
    public func deleteVault(_ id: String) async throws {
        _ = try await vault(id)
        try await waitForRekeyCommit()
        sealKeyWritersInFlight += 1
        defer { sealKeyWritersInFlight -= 1 }
        try await storage.apply([.deletePrefix(Self.vaultPrefix(id))])
        masterKeys = masterKeys.filter { $0.key != id && !$0.key.hasPrefix(id + "#") }
        vaultRecords[id] = nil
        keyCache = keyCache.filter { !$0.key.hasPrefix(Self.vaultPrefix(id)) }
        deletions += 1
    }

    private func decodeMeta(_ envelope: [UInt8], id: String, ring: KeyRing) throws -> VaultRecord {
        do {
            let json = try ring.openSystem(envelope, aad: "vaultd:vault-meta:\(id)")
            return try JSONDecoder.vault.decode(VaultRecord.self, from: Data(json))
        } catch {
            throw VaultError(.internalError, "the record of vault \(id) failed to decrypt: the database is damaged")
        }
    }

    /// The vault's master key, from the cache or unwrapped with the seal key.
    func masterKey(_ vaultID: String) async throws -> CloakedKey {
        if let cached = masterKeys[vaultID] { return cached }
        _ = try requireUnsealed()
        let before = deletions
        let sealKeyBefore = rekeysCommitted
        guard Self.isValidID(vaultID), let envelope = try await storage.get(Self.masterPath(vaultID)) else {
            throw VaultError(.notFound, "vault not found")
        }
        let ring = try requireUnsealed()
        let unwrapped: SecretBytes
        do {
            unwrapped = try ring.sealKey.reveal { try Envelope.openSecret(envelope, key: $0, aad: "vaultd:vault-master:\(vaultID)") }
        } catch {
            // Read under the old key while a rekey committed: read it again under the new one.
            if rekeysCommitted != sealKeyBefore { return try await masterKey(vaultID) }
            throw VaultError(.internalError, "the master key of vault \(vaultID) failed to decrypt: the database is damaged")
        }
        let key = try CloakedKey(unwrapped)
        if mayCache(since: before) { masterKeys[vaultID] = key }
        return key
    }

    // MARK: Secrets

    public func createSecret(vaultID: String, name: String, type: String, description: String, value: String) async throws -> SecretRecord {
        let dataKey = try await dataKey(vaultID)
        var record = SecretRecord(id: UUIDText.random(), createdAt: Date(), vaultID: vaultID, type: type, name: name, description: description, value: value)
        let path = Self.secretPath(vaultID, record.id)
        try await storage.apply([.put(path, try sealRecord(record, path: path, key: dataKey))])
        record.value = nil
        return record
    }

    public func listSecrets(vaultID: String) async throws -> [SecretRecord] {
        try await readRecords(SecretRecord.self, vaultID: vaultID, prefix: "vaults/\(vaultID)/secrets/").map { record in
            var record = record
            record.value = nil
            return record
        }
    }

    public func secret(vaultID: String, secretID: String) async throws -> SecretRecord {
        try await readRecord(SecretRecord.self, vaultID: vaultID, id: secretID, path: Self.secretPath(vaultID, secretID))
    }

    public func deleteSecret(vaultID: String, secretID: String) async throws {
        _ = try await secret(vaultID: vaultID, secretID: secretID)
        try await storage.apply([.delete(Self.secretPath(vaultID, secretID))])
    }

    /// Ids are UUIDs: refusing anything else keeps `/` and `..` out of storage paths.
    static func isValidID(_ id: String) -> Bool {
        // Bytes, not Characters: on every read, and grapheme breaking is the costly part.
        id.utf8.count == 36 && id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }
}
