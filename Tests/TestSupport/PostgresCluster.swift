import Foundation

/// A real PostgreSQL server for the tests: Debian's PostgreSQL 15, a cluster `initdb`'d into a
/// temporary directory and started on a loopback port, as an unprivileged user (`postgres` when
/// the tests run as root: PostgreSQL refuses to run as root). Password authentication over TCP
/// (scram-sha-256), as a deployment has it. It stops when the test process ends, however it
/// ends: a watcher process stops it.
public final class PostgresCluster: Sendable {
    public let directory: String
    public let port: Int
    public static let user = "vaultd"
    /// Not a secret: a throwaway cluster on loopback, gone with the test run.
    public static let password = "test-cluster-password"

    /// One cluster for the tests that only need a database of their own (``createDatabase()``).
    /// Tests that restart PostgreSQL start one for themselves.
    public static let shared = Task<PostgresCluster, any Error> { try await PostgresCluster.start() }

    static let binDirectory = "/usr/lib/postgresql/15/bin"

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binDirectory + "/initdb") }

    public let tls: Bool

    private init(directory: String, port: Int, tls: Bool = false) {
        self.directory = directory
        self.port = port
        self.tls = tls
    }

    /// The CA that signed a TLS cluster's certificate.
    public var caPath: String { directory + "/ca.pem" }

    /// A CA, and a server certificate for 127.0.0.1 and localhost signed by it (openssl CLI).
    static func makeCertificates(in directory: String) async throws {
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        for arguments in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=vaultd test CA"],
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=another CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
        ] {
            let result = try await TestEnvironment.run("/usr/bin/openssl", arguments.map { $0.hasSuffix(".pem") || $0.hasSuffix(".key") || $0.hasSuffix(".crt") || $0.hasSuffix(".csr") || $0.hasSuffix(".ext") ? directory + "/" + $0 : $0 })
            guard result.status == 0 else { throw TestSupportError("openssl \(arguments[0]): \(result.stderr)") }
        }
        chmod(directory + "/server.key", 0o600)
    }

    /// The user the server runs as, as a command prefix: nothing, or `runuser -u postgres --`.
    static var owner: [String] { geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : [] }

    /// With `tls`, the server speaks TLS only (`hostssl` in pg_hba.conf) with a certificate for
    /// 127.0.0.1 and localhost signed by a throwaway CA at ``caPath``.
    public static func start(tls: Bool = false) async throws -> PostgresCluster {
        guard isInstalled else {
            throw TestSupportError("PostgreSQL 15 is not installed (\(binDirectory)); scripts/test installs Debian's postgresql")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vaultd-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "\(password)\n".write(toFile: directory + "/pwfile", atomically: true, encoding: .utf8)
        if tls { try await makeCertificates(in: directory) }
        if geteuid() == 0 {
            let chown = try await TestEnvironment.run("/bin/chown", ["-R", "postgres:postgres", directory])
            guard chown.status == 0 else { throw TestSupportError("chown \(directory): \(chown.stderr)") }
        }
        let command = owner + [binDirectory + "/initdb", "-D", directory + "/data", "-U", user, "--pwfile", directory + "/pwfile",
                               "-E", "UTF8", "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"]
        let initdb = try await TestEnvironment.run(command[0], Array(command.dropFirst()))
        guard initdb.status == 0 else { throw TestSupportError("initdb failed: \(initdb.stderr)\(initdb.stdout)") }
        if tls {
            let hba = directory + "/data/pg_hba.conf"
            let rules = try String(contentsOfFile: hba, encoding: .utf8).split(separator: "\n").map { line in
                line.hasPrefix("host ") ? "hostssl" + line.dropFirst(4) : line
            }
            try (rules.joined(separator: "\n") + "\n").write(toFile: hba, atomically: false, encoding: .utf8)
        }
        let cluster = PostgresCluster(directory: directory, port: freePort(), tls: tls)
        try await cluster.pgctl(["start", "-w", "-t", "60", "-l", directory + "/server.log", "-o", cluster.serverOptions])
        cluster.stopWhenTestsEnd()
        return cluster
    }

    /// Loopback only; the socket in the cluster's directory; durability as a deployment has it
    /// except fsync, which the tests do not measure (the benchmarks keep it on).
    private var serverOptions: String {
        "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
            + (tls ? " -c ssl=on -c ssl_cert_file=\(directory)/server.crt -c ssl_key_file=\(directory)/server.key" : "")
    }

    private func pgctl(_ arguments: [String]) async throws {
        let command = Self.owner + [Self.binDirectory + "/pg_ctl", "-D", directory + "/data"] + arguments
        let result = try await TestEnvironment.run(command[0], Array(command.dropFirst()), timeout: .seconds(120))
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw TestSupportError("pg_ctl \(arguments.first ?? "") failed: \(result.stderr)\(result.stdout)\n\(log.suffix(1500))")
        }
    }

    /// A watcher outlives nothing: when this test process is gone, it stops the server.
    private func stopWhenTestsEnd() {
        let stop = (Self.owner + [Self.binDirectory + "/pg_ctl", "-D", directory + "/data", "stop", "-m", "immediate"]).joined(separator: " ")
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop) >/dev/null 2>&1; rm -rf \(directory)"
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = ["-c", script]
        watcher.standardInput = FileHandle.nullDevice
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try? watcher.run()
    }

    /// `connection_url` for `database`, password included.
    public func url(_ database: String, user: String = PostgresCluster.user, password: String = PostgresCluster.password, query: String? = nil) -> String {
        "postgres://\(user):\(password)@127.0.0.1:\(port)/\(database)?\(query ?? (tls ? "sslmode=verify-full&sslrootcert=\(caPath)" : "sslmode=disable"))"
    }

    /// Runs SQL as the superuser over the cluster's socket.
    @discardableResult
    public func sql(_ statement: String, database: String = "postgres") async throws -> String {
        let result = try await TestEnvironment.run(Self.binDirectory + "/psql", [
            "-h", directory, "-p", "\(port)", "-U", Self.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement,
        ])
        guard result.status == 0 else { throw TestSupportError("psql \(statement): \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// ``sql(_:database:)``, blocking the caller.
    public func sqlBlocking(_ statement: String, database: String = "postgres") throws -> String {
        let result = try TestEnvironment.runBlocking(Self.binDirectory + "/psql", [
            "-h", directory, "-p", "\(port)", "-U", Self.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement,
        ])
        guard result.status == 0 else { throw TestSupportError("psql \(statement): \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A new, empty database: each test gets its own.
    public func createDatabase() async throws -> String {
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try await sql("CREATE DATABASE \(name)")
        return name
    }

    /// `pg_ctl restart -m fast`: every connection is cut, the server is back on the same port.
    public func restart() async throws {
        try await pgctl(["restart", "-m", "fast", "-w", "-t", "60", "-l", directory + "/server.log", "-o", serverOptions])
    }

    public func stop() async throws { try await pgctl(["stop", "-m", "fast", "-w"]) }
    public func startAgain() async throws { try await pgctl(["start", "-w", "-t", "60", "-l", directory + "/server.log", "-o", serverOptions]) }
}
