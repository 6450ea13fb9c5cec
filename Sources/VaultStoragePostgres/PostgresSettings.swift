import Foundation
import NIOSSL
import PostgresNIO

/// `storage "postgresql"`, with Vault's setting names: where the database is, the two tables,
/// and whether nodes share it with leadership (`ha_enabled`).
public struct PostgresSettings: Sendable {
    /// `connection_url` (or `VAULT_PG_CONNECTION_URL` / `BAO_PG_CONNECTION_URL`). It may hold a
    /// password: never logged; ``redactedURL`` is.
    public var connectionURL: String
    /// `table`: the key/value table.
    public var table = "vaultd_kv_store"
    /// `ha_table`: the one-row leadership lease.
    public var haTable = "vaultd_ha_locks"
    /// `ha_enabled`: several nodes, one active (see ``SharedStorage``).
    public var haEnabled = false
    /// `max_parallel`: at most this many connections to PostgreSQL.
    public var maxParallel = 16
    /// `skip_create_table`: the tables exist already (created by a DBA with the DDL in docs/high-availability.md).
    public var skipCreateTable = false
    /// `ha_lease_ttl` (vaultd's own): how long the active node's lease lasts without renewal. A
    /// standby takes over at most this long after the active node dies; the active renews every
    /// third of it and stops serving before it runs out.
    public var leaseDuration: Duration = .milliseconds(1500)

    public init(connectionURL: String) { self.connectionURL = connectionURL }

    /// The parts of `connection_url` postgres-nio needs.
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String?
        /// libpq's `sslmode`: disable, allow, prefer (the default), require, verify-ca, verify-full.
        public var sslMode: String
        /// libpq's `sslrootcert`: the CA bundle that verify-ca and verify-full check against.
        public var sslRootCert: String?

        public init(host: String, port: Int, user: String, password: String?, database: String?, sslMode: String, sslRootCert: String?) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.sslMode = sslMode
            self.sslRootCert = sslRootCert
        }
    }

    static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    /// `postgres://user:password@host:port/database?sslmode=…&sslrootcert=…` (also `postgresql://`).
    public func endpoint() throws -> Endpoint {
        guard let components = URLComponents(string: connectionURL),
              ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty else {
            throw PostgresSettingsError("connection_url must look like postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full; got \(redactedURL)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresSettingsError("connection_url names no user (postgres://USER@HOST/DATABASE); got \(redactedURL)")
        }
        var query = [String: String]()
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let sslMode = query["sslmode"] ?? "prefer"
        guard Self.sslModes.contains(sslMode) else {
            throw PostgresSettingsError("connection_url: sslmode must be one of \(Self.sslModes.joined(separator: ", ")); got \"\(sslMode)\"")
        }
        let database = components.path.split(separator: "/").first.map(String.init)
        return Endpoint(host: host, port: components.port ?? 5432, user: user, password: components.password,
                        database: database, sslMode: sslMode, sslRootCert: query["sslrootcert"])
    }

    /// `connection_url` with the password replaced: what logs and errors may show.
    public var redactedURL: String {
        guard var components = URLComponents(string: connectionURL), components.host?.isEmpty == false,
              ["postgres", "postgresql"].contains(components.scheme ?? "") else { return "(not a postgres:// URL)" }
        if components.password != nil { components.password = "REDACTED" }
        return components.string ?? "(unparseable URL)"
    }

    /// One connection's configuration, the same as the pool's: for ``ConnectionPool/probe()``,
    /// which asks the server directly why the pool cannot connect.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let endpoint = try endpoint()
        let (mode, tlsConfiguration) = try tlsSettings(endpoint)
        let tls: PostgresConnection.Configuration.TLS
        switch mode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require: tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
        var configuration = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.user,
            password: endpoint.password, database: endpoint.database, tls: tls
        )
        configuration.options.connectTimeout = .seconds(2)
        return configuration
    }

    enum TLSMode { case disable, prefer, require }

    /// libpq's reading of `sslmode` and `sslrootcert`.
    private func tlsSettings(_ endpoint: Endpoint) throws -> (TLSMode, TLSConfiguration) {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let root = endpoint.sslRootCert { tlsConfiguration.trustRoots = .file(root) }
        switch endpoint.sslMode {
        case "disable":
            return (.disable, tlsConfiguration)
        case "allow", "prefer", "require":
            // Encrypted but unverified, unless a root certificate is given (then verify-ca).
            tlsConfiguration.certificateVerification = endpoint.sslRootCert == nil ? .none : .noHostnameVerification
            return (endpoint.sslMode == "require" ? .require : .prefer, tlsConfiguration)
        case "verify-ca":
            tlsConfiguration.certificateVerification = .noHostnameVerification
            return (.require, tlsConfiguration)
        default:
            tlsConfiguration.certificateVerification = .fullVerification
            return (.require, tlsConfiguration)
        }
    }

    /// postgres-nio's client configuration: TLS as libpq reads `sslmode`.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        let endpoint = try endpoint()
        let (mode, tlsConfiguration) = try tlsSettings(endpoint)
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(tlsConfiguration)
        case .require: tls = .require(tlsConfiguration)
        }
        var configuration = PostgresClient.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.user,
            password: endpoint.password, database: endpoint.database, tls: tls
        )
        configuration.options.maximumConnections = maxParallel
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        // A dead server is noticed within seconds on an idle connection too.
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(5))
        // A node paused or cut off in the middle of a write holds the lease row's share lock,
        // and the next node could not take the lease until its connection died: PostgreSQL ends
        // such a transaction after a third of the lease. And nothing waits for a lock longer
        // than a lease: by then the answer no longer matters.
        let lease = Int(leaseDuration.components.seconds * 1000 + leaseDuration.components.attoseconds / 1_000_000_000_000_000)
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", "\(max(lease / 3, 100))"),
            ("lock_timeout", "\(lease)"),
            ("application_name", "vaultd"),
        ]
        return configuration
    }

    /// A table name as SQL may hold it: `name` or `schema.name`, letters, digits and `_`. Quoted
    /// when used, so it is never read as SQL.
    public static func checkTableName(_ name: String, setting: String) throws {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid = (1...2).contains(parts.count) && parts.allSatisfy { part in
            guard let first = part.first, first == "_" || first.isLetter else { return false }
            return part.count <= 63 && part.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        }
        guard valid else {
            throw PostgresSettingsError("\(setting) must be a table name (letters, digits and _, optionally schema.table, at most 63 characters each); got \"\(name)\"")
        }
    }

    static func quoted(_ name: String) -> String {
        name.split(separator: ".").map { "\"\($0)\"" }.joined(separator: ".")
    }
}

/// A `storage "postgresql"` setting that cannot be used; the message names it.
public struct PostgresSettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
