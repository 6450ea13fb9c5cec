import Foundation
import Logging
import PostgresNIO
import Synchronization
import VaultCore

/// ``StorageBackend`` on PostgreSQL through postgres-nio, for several vaultd nodes on one
/// database (``SharedStorage``, when `ha_enabled`). One table of keys and values, one row of
/// leadership lease (see `PostgresStorage+Leadership.swift`). Every write is one transaction;
/// with `ha_enabled` its first statement checks the lease (see ``apply(_:)``).
public final class PostgresStorage: StorageBackend, Sendable {
    public let kind = "postgresql"
    public let settings: PostgresSettings
    public let nodeID: String
    let pool: ConnectionPool
    var client: PostgresClient { pool.client }
    let logger: Logger
    let kvTable: String
    let haTable: String
    /// The term this node leads in, or nil: standby, or not yet unsealed. Set by the lease
    /// operations only, and cleared *before* the lease is given up.
    let heldTerm = Mutex<LeadershipTerm?>(nil)

    public var leaseDuration: Duration { settings.leaseDuration }

    public init(_ settings: PostgresSettings, logger: Logger) throws {
        try PostgresSettings.checkTableName(settings.table, setting: "table")
        try PostgresSettings.checkTableName(settings.haTable, setting: "ha_table")
        guard settings.maxParallel >= 2 else {
            throw PostgresSettingsError("max_parallel must be at least 2 (one connection renews the lease while another writes); got \(settings.maxParallel)")
        }
        self.settings = settings
        self.logger = logger
        self.nodeID = UUID().uuidString.lowercased()
        self.kvTable = PostgresSettings.quoted(settings.table)
        self.haTable = PostgresSettings.quoted(settings.haTable)
        self.pool = ConnectionPool(configuration: try settings.clientConfiguration(), probe: try? settings.connectionConfiguration(), logger: logger)
    }

    /// Closes the connections and waits for the pool's work to end (vaultd's last step).
    public func shutdown() async { await pool.shutdown() }

    /// Creates the tables (unless `skip_create_table`) and checks their layout. A database that
    /// cannot be reached yet is waited for, with backoff, and said once: nodes of a cluster often
    /// start before their database.
    public func prepare() async throws {
        var delay = Duration.milliseconds(100)
        var said = false
        while true {
            do {
                try await createAndCheckTables()
                if said { logger.info("PostgreSQL reached", metadata: ["database": "\(settings.redactedURL)"]) }
                return
            } catch let error as PostgresSettingsError {
                throw error
            } catch let error as VaultError where error.code != .storageUnavailable {
                throw error
            } catch {
                if !said {
                    logger.warning("waiting for PostgreSQL; retrying with backoff", metadata: [
                        "database": "\(settings.redactedURL)", "error": "\(Self.describe(error))",
                    ])
                    said = true
                }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }

    private func createAndCheckTables() async throws {
        if !settings.skipCreateTable {
            try await run { [self] in
                try await client.withTransaction(logger: logger) { connection in
                    // Nodes starting together would race in CREATE TABLE IF NOT EXISTS (PostgreSQL
                    // can fail one of them on its catalog's unique index): one at a time.
                    try await connection.query("SELECT pg_advisory_xact_lock(hashtext('vaultd-schema'))", logger: logger)
                    try await connection.query("""
                        CREATE TABLE IF NOT EXISTS \(unescaped: kvTable) (
                            key   TEXT COLLATE "C" PRIMARY KEY,
                            value BYTEA NOT NULL
                        )
                        """, logger: logger)
                    try await connection.query("""
                        CREATE TABLE IF NOT EXISTS \(unescaped: haTable) (
                            ha_key       TEXT COLLATE "C" PRIMARY KEY,
                            ha_identity  TEXT NOT NULL,
                            ha_value     TEXT NOT NULL,
                            epoch        BIGINT NOT NULL,
                            active_since TIMESTAMPTZ NOT NULL,
                            valid_until  TIMESTAMPTZ NOT NULL
                        )
                        """, logger: logger)
                }
            }
        }
        // Tables of another layout (Vault's own vault_kv_store, say) are refused by name: vaultd
        // cannot read Vault's data, and must not write beside it.
        for (table, setting, columns) in [(kvTable, "table", "key,value"), (haTable, "ha_table", "ha_key,ha_identity,ha_value,epoch,active_since,valid_until")] {
            let found: String?
            do {
                let rows = try await client.query("""
                    SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                    WHERE attrelid = \(table)::regclass AND attnum > 0 AND NOT attisdropped
                    """, logger: logger)
                var names: String?
                for try await value in rows.decode(String?.self) { names = value }
                found = names
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == PostgresError.Code.undefinedTable.raw {
                found = nil
            } catch {
                throw VaultError(.storageUnavailable, "PostgreSQL (\(settings.redactedURL)): \(Self.describe(error))")
            }
            guard let found else {
                throw PostgresSettingsError("\(setting) \(table) does not exist and skip_create_table is set: create it with the DDL in docs/high-availability.md, or drop skip_create_table")
            }
            guard found == columns else {
                throw PostgresSettingsError("\(setting) \(table) has the columns (\(found)), not vaultd's (\(columns)): it is another program's table (Vault's own vault_kv_store, say), which vaultd cannot read and must not write beside; name another table — see docs/high-availability.md for the DDL")
            }
        }
    }

    // MARK: StorageBackend

    public func get(_ key: String) async throws -> [UInt8]? {
        try await run { [self] in
            let rows = try await client.query("SELECT value FROM \(unescaped: kvTable) WHERE key = \(key)", logger: logger)
            for try await value in rows.decode(ByteBuffer.self) { return Array(value.readableBytesView) }
            return nil
        }
    }

    public func list(prefix: String) async throws -> [String] {
        try await run { [self] in
            let rows = try await client.query(
                "SELECT key FROM \(unescaped: kvTable) WHERE key >= \(prefix) AND key < \(Self.upperBound(prefix)) ORDER BY key",
                logger: logger
            )
            var keys = [String]()
            for try await key in rows.decode(String.self) { keys.append(key) }
            return keys
        }
    }

    /// One REPEATABLE READ transaction: every row as of its first statement, whatever commits
    /// meanwhile. Read-only, so it needs no lease: a standby can read a snapshot too.
    public func allRecords() async throws -> [StorageEntry] {
        try await run(deadline: .seconds(60)) { [self] in
            try await client.withConnection { connection in
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                do {
                    let rows = try await connection.query("SELECT key, value FROM \(unescaped: kvTable) ORDER BY key", logger: logger)
                    var records = [StorageEntry]()
                    for try await (key, value) in rows.decode((String, ByteBuffer).self) {
                        records.append(StorageEntry(key: key, value: Array(value.readableBytesView)))
                    }
                    try await connection.query("COMMIT", logger: logger)
                    return records
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// One transaction. With `ha_enabled` it begins by finding this node's lease valid — row
    /// share-locked, so a node taking the lease over waits for this transaction to end — and
    /// writes nothing otherwise: a node that lost leadership cannot write, whatever it believes.
    public func apply(_ operations: [StorageOperation]) async throws {
        let term: LeadershipTerm?
        if settings.haEnabled {
            guard let held = heldTerm.withLock({ $0 }) else {
                throw VaultError(.notActive, "this node is a standby: only the active node writes; send the request to the active node (sys/leader names it)")
            }
            term = held
        } else {
            term = nil
        }
        try await write(operations, fencedBy: term)
    }

    public func applyInitialization(_ operations: [StorageOperation]) async throws {
        try await write(operations, fencedBy: nil)
    }

    private func write(_ operations: [StorageOperation], fencedBy term: LeadershipTerm?) async throws {
        try await run { [self] in
            try await client.withTransaction(logger: logger) { connection in
                if let term {
                    let rows = try await connection.query("""
                        SELECT epoch FROM \(unescaped: haTable)
                        WHERE ha_key = 'leader' AND ha_identity = \(nodeID) AND epoch = \(term.epoch) AND valid_until > clock_timestamp()
                        FOR SHARE
                        """, logger: logger)
                    var held = false
                    for try await _ in rows { held = true }
                    guard held else { throw LeaseLost(term: term) }
                }
                for operation in operations {
                    switch operation {
                    case .put(let key, let value):
                        try await connection.query("""
                            INSERT INTO \(unescaped: kvTable) (key, value) VALUES (\(key), \(ByteBuffer(bytes: value)))
                            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                            """, logger: logger)
                    case .delete(let key):
                        try await connection.query("DELETE FROM \(unescaped: kvTable) WHERE key = \(key)", logger: logger)
                    case .deletePrefix(let prefix):
                        try await connection.query("DELETE FROM \(unescaped: kvTable) WHERE key >= \(prefix) AND key < \(Self.upperBound(prefix))", logger: logger)
                    case .insertNew(let key, let value):
                        let rows = try await connection.query("""
                            INSERT INTO \(unescaped: kvTable) (key, value) VALUES (\(key), \(ByteBuffer(bytes: value)))
                            ON CONFLICT (key) DO NOTHING RETURNING 1
                            """, logger: logger)
                        var inserted = false
                        for try await _ in rows { inserted = true }
                        guard inserted else { throw StorageConflict(key: key) }
                    }
                }
            }
        }
    }

    /// The smallest string greater than every string with `prefix` (the key column sorts by
    /// code point: COLLATE "C").
    static func upperBound(_ prefix: String) -> String { prefix + "\u{10FFFF}" }
}
