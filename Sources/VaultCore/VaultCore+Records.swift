import Foundation
import LeanFoundation
import SealKit

/// A record kept inside a vault (a secret, a key's public record): JSON sealed under the vault's
/// master key, with `vaultd:<noun>:<storage path>` as additional data so a record copied to
/// another path or vault fails to open.
protocol StoredRecord: Codable {
    /// What the record is called in errors and in its additional data.
    static var noun: String { get }
    var createdAt: Date { get }
    /// The record from a flat object's fields (``FlatJSON``), or nil: `JSONDecoder` reads it.
    init?(flatFields: FlatJSONFields)
    /// The record as a flat object, or nil: `JSONEncoder` writes it.
    var flatJSON: FlatJSONWriter? { get }
}

extension StoredRecord {
    init?(flatFields: FlatJSONFields) { nil }
    var flatJSON: FlatJSONWriter? { nil }
}

extension VaultCore {
    func sealRecord<T: StoredRecord>(_ record: T, path: String, key: DataKey) throws -> [UInt8] {
        let json = try record.flatJSON?.bytes(escapingSlashes: true) ?? Array(JSONEncoder.vault.encode(record))
        noteEncryption(key.term)
        return try key.key.key.reveal { try Envelope.seal(json, key: $0, aad: "vaultd:\(T.noun):\(path)", term: key.term) }
    }

    /// The record at `path`; 404 when `id` is not an id or nothing is stored there.
    func readRecord<T: StoredRecord>(_ type: T.Type, vaultID: String, id: String, path: String) async throws -> T {
        _ = try await masterKey(vaultID)   // 404 for a vault that does not exist, before the record
        guard Self.isValidID(id), let envelope = try await storage.get(path) else {
            throw VaultError(.notFound, "\(T.noun) not found")
        }
        return try openRecord(envelope, path: path, key: try await dataKey(vaultID, for: envelope))
    }

    /// Every record under `prefix`, oldest first.
    func readRecords<T: StoredRecord>(_ type: T.Type, vaultID: String, prefix: String) async throws -> [T] {
        _ = try await masterKey(vaultID)
        var out = [T]()
        for path in try await storage.list(prefix: prefix) {
            guard let envelope = try await storage.get(path) else { continue }
            out.append(try openRecord(envelope, path: path, key: try await dataKey(vaultID, for: envelope)))
        }
        return out.sorted { $0.createdAt < $1.createdAt }
    }

    private func openRecord<T: StoredRecord>(_ envelope: [UInt8], path: String, key: CloakedKey) throws -> T {
        do {
            let json = try key.key.reveal { try Envelope.open(envelope, key: $0, aad: "vaultd:\(T.noun):\(path)") }
            if let record = FlatJSON.parseObject(json).flatMap(T.init(flatFields:)) { return record }
            return try JSONDecoder.vault.decode(T.self, from: Data(json))
        } catch {
            throw VaultError(.internalError, "a \(T.noun) record failed to decrypt: the database is damaged")
        }
    }
}
