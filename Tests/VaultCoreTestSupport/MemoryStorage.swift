import VaultCore

/// An in-memory ``StorageBackend`` for unit tests and the sys-API fuzz target. A test double:
/// it lives here, not in VaultCore, so no production binary links it.
public actor MemoryStorage: StorageBackend {
    private var values: [String: [UInt8]] = [:]
    public nonisolated let kind = "inmem"

    public init() {}

    public func get(_ key: String) -> [UInt8]? { values[key] }

    public func list(prefix: String) -> [String] { values.keys.filter { $0.hasPrefix(prefix) }.sorted() }

    public func allRecords() -> [StorageEntry] {
        values.sorted { $0.key < $1.key }.map { StorageEntry(key: $0.key, value: $0.value) }
    }

    public func apply(_ operations: [StorageOperation]) throws {
        var copy = values
        for operation in operations {
            switch operation {
            case .put(let key, let value): copy[key] = value
            case .delete(let key): copy[key] = nil
            case .deletePrefix(let prefix): for key in copy.keys where key.hasPrefix(prefix) { copy[key] = nil }
            case .insertNew(let key, let value):
                guard copy[key] == nil else { throw StorageConflict(key: key) }
                copy[key] = value
            }
        }
        values = copy
    }
}
