import Foundation
import HTTPTransport
import TestSupport
import VaultClient
import VaultClientTestSupport
import VaultWire

/// A vaultd process in its own temporary directory, started from a generated configuration,
/// its output captured to `vaultd.log` there.
final class VaultdHarness: @unchecked Sendable {
    let directory: URL
    let socketPath: String
    let databasePath: String
    let configPath: String
    let logPath: String
    private(set) var process: Process?
    /// The storage block given to init, nil for the default.
    private let storageBlock: String?
    /// With `VAULTD_TEST_STORAGE=postgresql` (scripts/test's second pass over the vaultd suites),
    /// the default storage is a database of its own on the shared test cluster instead of SQLite.
    private(set) var postgres: (cluster: PostgresCluster, database: String)?

    static let storageUnderTest = ProcessInfo.processInfo.environment["VAULTD_TEST_STORAGE"] ?? "sqlite"
    static var isPostgreSQL: Bool { storageUnderTest == "postgresql" }

    /// - Parameters:
    ///   - listenerSettings: extra attributes for the `listener "unix"` block.
    ///   - extra: extra top-level configuration.
    ///   - storage: the whole storage block (default: SQLite in the directory).
    init(listenerSettings: String = "", extra: String = "", storage: String? = nil) throws {
        storageBlock = storage
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vaultd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        socketPath = directory.appendingPathComponent("vaultd.sock").path
        databasePath = directory.appendingPathComponent("vault.db").path
        configPath = directory.appendingPathComponent("vaultd.hcl").path
        logPath = directory.appendingPathComponent("vaultd.log").path
        let config = """
            \(storage ?? "storage \"sqlite\" { path = \"\(databasePath)\" }")
            listener "unix" {
              address = "\(socketPath)"
              \(listenerSettings)
            }
            log_level = "debug"
            \(extra)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    var address: String { "unix://\(socketPath)" }

    func client(token: String? = nil) throws -> VaultClient {
        VaultClient(address: try VaultAddress(address), token: token, timeout: .seconds(60))
    }

    /// Two vaultd, each on storage of its own, both started (the plural most agent tests need);
    /// the caller removes them.
    static func startedPair() async throws -> (VaultdHarness, VaultdHarness) {
        let a = try VaultdHarness(), b = try VaultdHarness()
        do {
            try await a.start()
            try await b.start()
        } catch {
            a.remove()
            b.remove()
            throw error
        }
        return (a, b)
    }

    /// Starts vaultd and waits until it answers seal-status or exits (the only other bound is
    /// the suite-wide hang guard: on a loaded machine a start may take long, and that is no failure).
    /// - Parameters:
    ///   - openFileLimit: runs it under `prlimit --nofile=N:N` (a host's default of 1,024).
    ///   - wrapper: a command that execs vaultd (e.g. `/usr/bin/env VAR=value`).
    ///   - readiness: the client whose seal-status answer means started (default: the unix socket).
    func start(environment: [String: String] = [:], openFileLimit: Int? = nil, wrapper: [String] = [], readiness: VaultClient? = nil) async throws {
        if Self.isPostgreSQL && storageBlock == nil && postgres == nil {
            let cluster = try await PostgresCluster.shared.value
            let database = try await cluster.createDatabase()
            let config = try String(contentsOfFile: configPath, encoding: .utf8).replacingOccurrences(
                of: "storage \"sqlite\" { path = \"\(databasePath)\" }",
                with: "storage \"postgresql\" { connection_url = \"\(cluster.url(database))\" }")
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
            postgres = (cluster, database)
        }
        let process = Process()
        let prefix = wrapper + (openFileLimit.map { ["/usr/bin/prlimit", "--nofile=\($0):\($0)", "--"] } ?? [])
        if let first = prefix.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(prefix.dropFirst()) + [TestEnvironment.executable("vaultd"), "server", "--config", configPath]
        } else {
            process.executableURL = URL(fileURLWithPath: TestEnvironment.executable("vaultd"))
            process.arguments = ["server", "--config", configPath]
        }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        logHandle.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        try? logHandle.close()   // the child has its own (see ChildProcess)
        self.process = process
        let client = try readiness ?? client()
        let deadline = ContinuousClock.now + TestEnvironment.hangGuard
        while ContinuousClock.now < deadline {
            if let (status, _) = try? await client.send("GET", "/v1/sys/seal-status"), status == 200 { return }
            guard !process.hasEnded else {
                throw TestSupportError("vaultd exited with \(process.exitStatus): \(log(tail: 20))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError("vaultd did not answer within the hang guard (\(TestEnvironment.hangGuard)): \(log(tail: 20))")
    }

    /// Sends `signal` and waits for the process to exit; returns its status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        guard let process else { return 0 }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + TestEnvironment.hangGuard
        while !process.hasEnded && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        if !process.hasEnded {
            ChildExit.kill(process.processIdentifier)
            throw TestSupportError("vaultd did not stop within the hang guard of signal \(signal)")
        }
        self.process = nil
        return process.exitStatus
    }

    func log(tail lines: Int? = nil) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard let lines else { return text }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Every byte vaultd has written to disk: the database and its WAL and shared-memory files
    /// (on PostgreSQL: every key and value of its table).
    func storedBytes() -> [UInt8] {
        if let postgres {
            let rows = (try? postgres.cluster.sqlBlocking("SELECT key || ' ' || encode(value, 'hex') FROM vaultd_kv_store", database: postgres.database)) ?? ""
            var bytes = [UInt8]()
            for row in rows.split(separator: "\n") {
                let parts = row.split(separator: " ", maxSplits: 1)
                bytes += Array(parts[0].utf8)
                if parts.count > 1 { bytes += Self.hexBytes(parts[1]) }
            }
            return bytes
        }
        var bytes = [UInt8]()
        for suffix in ["", "-wal", "-shm"] {
            if let data = FileManager.default.contents(atPath: databasePath + suffix) { bytes += data }
        }
        return bytes
    }

    private static func hexBytes(_ hex: Substring) -> [UInt8] {
        var bytes = [UInt8](), index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    /// How many stored records have keys starting with `prefix`, read by a second connection.
    func storedRecords(prefix: String) async throws -> Int {
        if let postgres {
            return Int(try await postgres.cluster.sql("SELECT count(*) FROM vaultd_kv_store WHERE key LIKE '\(prefix)%'", database: postgres.database)) ?? -1
        }
        let rows = try await TestEnvironment.run("/usr/bin/python3", [
            "-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from kv where key like ?\", (sys.argv[2] + '%',)).fetchone()[0])",
            databasePath, prefix,
        ])
        guard rows.status == 0 else { throw TestSupportError("reading \(databasePath): \(rows.stderr)") }
        return Int(rows.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    func remove() {
        if let process, !process.hasEnded { ChildExit.kill(process.processIdentifier) }
        SecretLedger.removeDirectory(directory)
    }

    deinit { remove() }
}

/// The needles a secret-hygiene check looks for: each as text.
func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
    haystack.contains(Array(needle.utf8))
}

extension VaultClient {
    /// `initialize`, recording the key it was given and every secret of its answer in the
    /// ``SecretLedger`` (the suite-wide scan looks for them in every log).
    func initializeRecorded(_ request: InitRequest = InitRequest()) async throws -> InitResponse {
        if let key = request.sealKey { SecretLedger.record([key]) }
        let answer = try await initialize(request)
        SecretLedger.record(answer.keys + answer.keysBase64 + (answer.recoveryKeys ?? []) + (answer.recoveryKeysBase64 ?? []) + [answer.rootToken])
        return answer
    }
}

extension VaultdHarness {
    /// Starts vaultd, initialises it with one share (recorded in the ledger) and unseals it:
    /// where most tests begin. Returns the init answer (the key and the root token).
    @discardableResult
    func startUnsealed() async throws -> InitResponse {
        try await start()
        let initialized = try await client().initializeRecorded()
        _ = try await client().unseal(key: initialized.keysBase64[0])
        return initialized
    }
}
