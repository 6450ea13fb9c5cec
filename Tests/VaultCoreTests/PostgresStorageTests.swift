import Foundation
import Logging
import TestSupport
import Testing
import VaultCore
import VaultStoragePostgres

/// PostgreSQL storage on a real server: settings, tables, and the leadership lease that fences
/// every write.
@Suite("PostgreSQL storage")
struct PostgresStorageTests {
    static func newDatabase() async throws -> String {
        try await PostgresCluster.shared.value.createDatabase()
    }

    /// A storage on `database`; its pool runs for the rest of the test process.
    static func storage(in database: String, haEnabled: Bool = false, lease: Duration = .milliseconds(600), configure: (inout PostgresSettings) -> Void = { _ in }) async throws -> PostgresStorage {
        var settings = PostgresSettings(connectionURL: try await PostgresCluster.shared.value.url(database))
        settings.haEnabled = haEnabled
        settings.leaseDuration = lease
        configure(&settings)
        let storage = try PostgresStorage(settings, logger: Logger(label: "test"))
        try await storage.prepare()
        return storage
    }

    @Test("connection_url: parts, sslmode, and errors that never show the password")
    func settings() throws {
        let endpoint = try PostgresSettings(connectionURL: "postgresql://vaultd:s3cr%40t@db.internal:6432/vault?sslmode=verify-full&sslrootcert=/etc/ca.pem").endpoint()
        #expect(endpoint == .init(host: "db.internal", port: 6432, user: "vaultd", password: "s3cr@t", database: "vault", sslMode: "verify-full", sslRootCert: "/etc/ca.pem"))
        #expect(try PostgresSettings(connectionURL: "postgres://u@h/d").endpoint().sslMode == "prefer")
        #expect(try PostgresSettings(connectionURL: "postgres://u@h/d").endpoint().port == 5432)
        for bad in ["mysql://u:hunter2@h/d", "postgres://:hunter2@h/d", "postgres://u:hunter2@h/d?sslmode=maybe", "not a url hunter2"] {
            let error = #expect(throws: PostgresSettingsError.self) { _ = try PostgresSettings(connectionURL: bad).endpoint() }
            #expect(error?.description.contains("hunter2") == false, "\(error?.description ?? "")")
        }
        for bad in ["x; DROP TABLE y", "a.b.c", "1abc", "", "\"q\""] {
            #expect(throws: PostgresSettingsError.self) { try PostgresSettings.checkTableName(bad, setting: "table") }
        }
        try PostgresSettings.checkTableName("vault.kv_store_2", setting: "table")
    }

    @Test("a table of another layout (Vault's own) is refused by name; skip_create_table with no table names the DDL")
    func foreignTables() async throws {
        let cluster = try await PostgresCluster.shared.value
        let database = try await Self.newDatabase()
        try await cluster.sql("CREATE TABLE vault_kv_store (parent_path TEXT, path TEXT, key TEXT, value BYTEA)", database: database)
        await #expect(throws: PostgresSettingsError.self) {
            _ = try await Self.storage(in: database) { $0.table = "vault_kv_store" }
        }
        let error = await #expect(throws: PostgresSettingsError.self) {
            _ = try await Self.storage(in: database) { $0.skipCreateTable = true; $0.table = "missing" }
        }
        #expect(error?.description.contains("docs/high-availability.md") == true)
    }

    @Test("the lease: one holder; a standby's write is refused; epochs grow; release hands over at once")
    func leaseBasics() async throws {
        let database = try await Self.newDatabase()
        let a = try await Self.storage(in: database, haEnabled: true, lease: .seconds(5))
        let b = try await Self.storage(in: database, haEnabled: true, lease: .seconds(5))
        let termA = try #require(try await a.acquireLeadership(advertising: "http://a:8200"))
        #expect(try await b.acquireLeadership(advertising: "http://b:8200") == nil)
        try await a.put("k", [1])
        let refused = await #expect(throws: VaultError.self) { try await b.put("k", [2]) }
        #expect(refused?.code == .notActive)
        #expect(try await b.get("k") == [1], "standbys read")
        let leader = try #require(try await b.leader())
        #expect(leader.nodeID == a.nodeID && leader.address == "http://a:8200" && leader.epoch == termA.epoch && leader.isCurrent)

        await a.releaseLeadership(termA)
        await #expect(throws: VaultError.self) { try await a.put("k", [3]) }
        let termB = try #require(try await b.acquireLeadership(advertising: "http://b:8200"))
        #expect(termB.epoch == termA.epoch + 1)
        try await b.put("k", [4])
        #expect(try await a.get("k") == [4])
    }

    @Test("fenced: a holder that stopped renewing cannot write once another took over — its own view says it leads")
    func fencing() async throws {
        let database = try await Self.newDatabase()
        let a = try await Self.storage(in: database, haEnabled: true, lease: .milliseconds(400))
        let b = try await Self.storage(in: database, haEnabled: true, lease: .milliseconds(400))
        let termA = try #require(try await a.acquireLeadership(advertising: "http://a:8200"))
        try await a.put("k", [1])
        // A is "paused": no renewal. B takes over once the lease ran out by the database's clock.
        var termB: LeadershipTerm?
        let deadline = ContinuousClock.now + .seconds(30)
        while termB == nil && ContinuousClock.now < deadline {
            termB = try await b.acquireLeadership(advertising: "http://b:8200")
            if termB == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(termB?.epoch == termA.epoch + 1)
        // A wakes and writes under the term it still believes in: refused inside the transaction.
        let error = await #expect(throws: VaultError.self) { try await a.apply([.put("k", [2]), .put("other", [2])]) }
        #expect(error?.code == .notActive)
        #expect(try await b.get("k") == [1])
        #expect(try await b.get("other") == nil)
        #expect(try await a.renewLeadership(termA) == false)
        try await b.put("k", [3])
        #expect(try await b.get("k") == [3])
    }

    @Test("a lease expired with nobody taking over still refuses the old holder's writes (the database's clock decides)")
    func expiredWithoutSuccessor() async throws {
        let database = try await Self.newDatabase()
        let a = try await Self.storage(in: database, haEnabled: true, lease: .milliseconds(300))
        let term = try #require(try await a.acquireLeadership(advertising: "http://a:8200"))
        try await a.put("k", [1])
        let cluster = try await PostgresCluster.shared.value
        // Wait by the database's clock, not ours.
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await cluster.sql("SELECT valid_until < clock_timestamp() FROM vaultd_ha_locks", database: database) == "t")
        let error = await #expect(throws: VaultError.self) { try await a.put("k", [2]) }
        #expect(error?.code == .notActive)
        #expect(try await a.renewLeadership(term) == false)
    }

    @Test("TLS to PostgreSQL: verify-full, verify-ca, require and prefer connect to a TLS-only server; another CA, and sslmode=disable, are refused with the reason and the setting, never the password")
    func tls() async throws {
        let cluster = try await PostgresCluster.start(tls: true)
        let database = try await cluster.createDatabase()
        for query in ["sslmode=verify-full&sslrootcert=\(cluster.caPath)", "sslmode=verify-ca&sslrootcert=\(cluster.caPath)", "sslmode=require", "sslmode=prefer"] {
            let storage = try PostgresStorage(PostgresSettings(connectionURL: cluster.url(database, query: query)), logger: Logger(label: "test"))
            try await storage.prepare()
            try await storage.put("k", [1, 2, 3])
            #expect(try await storage.get("k") == [1, 2, 3], "\(query)")
            // The server says the connection is encrypted.
            let encrypted = try await cluster.sql("SELECT count(*) > 0 AND bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE client_addr IS NOT NULL")
            #expect(encrypted == "t", "\(query)")
            await storage.shutdown()
        }

        for (query, reason, setting) in [
            ("sslmode=verify-full&sslrootcert=\(cluster.directory)/other-ca.pem", "certificate", "sslrootcert"),
            ("sslmode=disable", "no encryption", "sslmode"),
        ] {
            let storage = try PostgresStorage(PostgresSettings(connectionURL: cluster.url(database, query: query)), logger: Logger(label: "test"))
            let error = await #expect(throws: VaultError.self) { _ = try await storage.get("k") }
            let message = error?.message ?? ""
            #expect(message.lowercased().contains(reason) && message.contains(setting), "\(query): \(message)")
            #expect(!message.contains(PostgresCluster.password), "\(message)")
            await storage.shutdown()
        }
    }
}
