import Synchronization

/// A bounded cache of storage entries in front of a ``StorageBackend``: Vault's "physical
/// cache" (`cache_size`, `disable_cache`). What it holds is what storage holds — envelopes,
/// encrypted under the vault's keys — so caching them keeps no secret in the clear.
///
/// A read of a cached key skips the backend's transaction, its thread hop and its copy; a
/// secret read is about a third cheaper (docs/BENCHMARKS.md). Misses are not cached, so
/// probing for absent keys cannot fill it.
///
/// **Coherence.** Only this process writes through it: vaultd wraps the embedded SQLite
/// storage, which one server holds at a time (its lock file), and never shared storage,
/// where another node writes. Every write invalidates the keys it touches before and after
/// it runs, whether it succeeds or not (a failed commit may still have landed). A read that
/// missed fills the cache only if no write to its stripe of keys began or ended while it read
/// the backend, so a value read before a write cannot be put back after it.
///
/// **Bound.** Two generations (the young one takes inserts and hits; when it is half the
/// limit, it becomes the old one and the old one is dropped): at most `maxEntries` entries
/// and about `maxBytes` bytes, with least-recently-used entries going first, approximately.
public final class CachingStorage: StorageBackend {
    public struct Limits: Sendable, Equatable {
        /// Entries (Vault's `cache_size`, default 131072).
        public var maxEntries: Int
        /// Bytes of values, keys included; larger values than a sixteenth of it are not cached.
        public var maxBytes: Int

        public init(maxEntries: Int = 131_072, maxBytes: Int = 32 << 20) {
            self.maxEntries = maxEntries
            self.maxBytes = maxBytes
        }
    }

    public let backend: any StorageBackend
    public let limits: Limits
    private let state: Mutex<State>
    private let counters = Mutex(Counters())

    public struct Counters: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public init(hits: Int = 0, misses: Int = 0) {
            self.hits = hits
            self.misses = misses
        }
    }

    /// Writes are tracked per stripe of keys (by hash), so a write to one secret does not stop
    /// reads of others from filling the cache.
    private static let stripes = 64

    private struct State: ~Copyable {
        var young: [String: [UInt8]] = [:]
        var old: [String: [UInt8]] = [:]
        var youngBytes = 0
        var oldBytes = 0
        /// Per stripe: writes in progress, and a counter every write start and end moves.
        var writing = [Int](repeating: 0, count: CachingStorage.stripes)
        var version = [UInt64](repeating: 0, count: CachingStorage.stripes)
    }

    public init(_ backend: any StorageBackend, limits: Limits = Limits()) {
        self.backend = backend
        self.limits = limits
        self.state = Mutex(State())
    }

    public var kind: String { backend.kind }
    public var problem: String? { backend.problem }
    public var statistics: Counters { counters.withLock { $0 } }

    /// Entries and bytes held now.
    public var size: (entries: Int, bytes: Int) {
        state.withLock { ($0.young.count + $0.old.count, $0.youngBytes + $0.oldBytes) }
    }

    private static func stripe(_ key: String) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(stripes))
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        let stripe = Self.stripe(key)
        let (cached, version) = state.withLock { state -> ([UInt8]?, UInt64?) in
            if let value = state.young[key] { return (value, nil) }
            if let value = state.old.removeValue(forKey: key) {
                state.oldBytes -= Self.cost(key, value)
                insert(key, value, into: &state)
                return (value, nil)
            }
            return (nil, state.writing[stripe] == 0 ? state.version[stripe] : nil)
        }
        if let cached {
            counters.withLock { $0.hits += 1 }
            return cached
        }
        counters.withLock { $0.misses += 1 }
        let value = try await backend.get(key)
        if let value, let version {
            state.withLock { state in
                guard state.writing[stripe] == 0, state.version[stripe] == version, state.young[key] == nil else { return }
                insert(key, value, into: &state)
            }
        }
        return value
    }

    public func list(prefix: String) async throws -> [String] {
        try await backend.list(prefix: prefix)
    }

    public func allRecords() async throws -> [StorageEntry] {
        try await backend.allRecords()
    }

    public func apply(_ operations: [StorageOperation]) async throws {
        let written = begin(operations)
        defer { end(written) }
        try await backend.apply(operations)
    }

    public func applyInitialization(_ operations: [StorageOperation]) async throws {
        let written = begin(operations)
        defer { end(written) }
        try await backend.applyInitialization(operations)
    }

    // MARK: - Internals

    private static func cost(_ key: String, _ value: [UInt8]) -> Int { key.utf8.count + value.count + 64 }

    private func insert(_ key: String, _ value: [UInt8], into state: inout State) {
        let cost = Self.cost(key, value)
        guard cost <= limits.maxBytes / 16, limits.maxEntries >= 2 else { return }
        if state.young.count + 1 > limits.maxEntries / 2 || state.youngBytes + cost > limits.maxBytes / 2 {
            state.old = state.young
            state.oldBytes = state.youngBytes
            state.young = [:]
            state.youngBytes = 0
        }
        state.young[key] = value
        state.youngBytes += cost
    }

    /// What a write touches: its keys, the prefixes it deletes, and their stripes (all of them
    /// for a prefix deletion).
    private struct WriteSet {
        var keys = [String]()
        var prefixes = [String]()
        var stripes = [Int]()
    }

    /// Marks the stripes `operations` touch as written and drops their keys.
    private func begin(_ operations: [StorageOperation]) -> WriteSet {
        var written = WriteSet()
        var touched = Set<Int>()
        for operation in operations {
            switch operation {
            case .put(let key, _), .delete(let key), .insertNew(let key, _):
                written.keys.append(key)
                touched.insert(Self.stripe(key))
            case .deletePrefix(let prefix):
                written.prefixes.append(prefix)
                touched = Set(0..<Self.stripes)
            }
        }
        written.stripes = Array(touched)
        state.withLock { state in
            for stripe in written.stripes {
                state.writing[stripe] += 1
                state.version[stripe] += 1
            }
            drop(written, from: &state)
        }
        return written
    }

    /// The write is over (committed or not): its stripes may fill again, and what a read filled
    /// meanwhile for its keys is dropped.
    private func end(_ written: WriteSet) {
        state.withLock { state in
            for stripe in written.stripes {
                state.writing[stripe] -= 1
                state.version[stripe] += 1
            }
            drop(written, from: &state)
        }
    }

    private func drop(_ written: WriteSet, from state: inout State) {
        for key in written.keys {
            if let value = state.young.removeValue(forKey: key) { state.youngBytes -= Self.cost(key, value) }
            if let value = state.old.removeValue(forKey: key) { state.oldBytes -= Self.cost(key, value) }
        }
        for prefix in written.prefixes {
            for key in state.young.keys where key.hasPrefix(prefix) {
                state.youngBytes -= Self.cost(key, state.young.removeValue(forKey: key)!)
            }
            for key in state.old.keys where key.hasPrefix(prefix) {
                state.oldBytes -= Self.cost(key, state.old.removeValue(forKey: key)!)
            }
        }
    }
}
