/// Where vaultd keeps its (always encrypted, apart from the seal configuration) records.
///
/// Keys are `/`-separated paths such as `vaults/<id>/secrets/<secretId>`. Implementations make
/// every ``apply(_:)`` atomic and durable before it returns: an acknowledged write survives
/// `kill -9`.
public protocol StorageBackend: Sendable {
    /// A short name for `seal-status`'s `storage_type`.
    var kind: String { get }

    /// The value at `key`, or `nil`.
    func get(_ key: String) async throws -> [UInt8]?

    /// The keys that start with `prefix`, sorted.
    func list(prefix: String) async throws -> [String]

    /// Applies every operation in one transaction.
    func apply(_ operations: [StorageOperation]) async throws

    /// Every key and value, read in one consistent view (a single read transaction): what a
    /// snapshot holds. Writes committed after the view began are not in it; none before are
    /// missing.
    func allRecords() async throws -> [StorageEntry]

    /// Why the storage cannot be trusted now (its file deleted, replaced or found damaged), or nil.
    var problem: String? { get }

    /// The first write of a new vault (init). Shared storage takes it from any node without
    /// leadership — every node is sealed then, and none can lead — because the operations end
    /// with an ``StorageOperation/insertNew(_:_:)`` of the seal configuration: of two nodes
    /// initialising at once, exactly one commits.
    func applyInitialization(_ operations: [StorageOperation]) async throws
}

extension StorageBackend {
    public var problem: String? { nil }
    public func applyInitialization(_ operations: [StorageOperation]) async throws { try await apply(operations) }
}

/// One change in a ``StorageBackend/apply(_:)`` transaction.
public enum StorageOperation: Sendable {
    case put(String, [UInt8])
    case delete(String)
    /// Deletes every key starting with the prefix.
    case deletePrefix(String)
    /// Fails the transaction (``StorageConflict``) when the key already exists.
    case insertNew(String, [UInt8])
}

/// One key and its value, as ``StorageBackend/allRecords()`` reads them.
public struct StorageEntry: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public init(key: String, value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// ``StorageOperation/insertNew(_:_:)`` found the key already present.
public struct StorageConflict: Error, Sendable {
    public let key: String
    public init(key: String) { self.key = key }
}

extension StorageBackend {
    public func put(_ key: String, _ value: [UInt8]) async throws { try await apply([.put(key, value)]) }
    public func delete(_ key: String) async throws { try await apply([.delete(key)]) }
}
