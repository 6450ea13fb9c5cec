import Foundation
import HTTPTransport

/// Where things are when tests run: the package root, the built executables, the Python venv
/// that `scripts/test` fills with reference implementations.
public enum TestEnvironment {
    /// The package root (the directory holding `Package.swift`).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
        }
        fatalError("cannot find Package.swift above \(#filePath)")
    }()

    /// The directory of the built products: `$VAULTD_BIN_DIR`, else the test bundle's own.
    public static let binDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["VAULTD_BIN_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // …/debug/vaultdPackageTests.xctest (Linux) or …/debug/vaultdPackageTests.xctest/Contents/MacOS/…
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("vaultctl").path) {
                return url
            }
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }()

    /// The one wall-clock bound on the harness's waits: how long a wait for an event (a process
    /// started, answered, exited) may take before the test is failed as hung. A wait normally
    /// ends on its event long before; this only turns a real hang into a named failure instead
    /// of the suite's time limit. `TEST_HANG_GUARD_SECONDS` overrides it.
    public static let hangGuard: Duration = .seconds(Int(ProcessInfo.processInfo.environment["TEST_HANG_GUARD_SECONDS"] ?? "") ?? 300)

    /// The path of a built executable.
    public static func executable(_ name: String) -> String {
        binDirectory.appendingPathComponent(name).path
    }

    /// The oracle interpreter: `$ORACLE_PYTHON`, else `.venv/bin/python` in the package.
    public static let oraclePython: String? = {
        let candidates = [
            ProcessInfo.processInfo.environment["ORACLE_PYTHON"],
            packageRoot.appendingPathComponent(".venv/bin/python").path,
        ].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Whether the oracle interpreter can import every one of `modules`.
    public static func oracleHas(_ modules: String...) -> Bool {
        guard oraclePython != nil else { return false }
        let imports = modules.map { "import \($0)" }.joined(separator: "; ")
        return (try? runOracleBlocking(imports, input: ""))?.status == 0
    }

    /// Runs Python `code` under the oracle interpreter with `input` on stdin.
    public static func runOracle(_ code: String, arguments: [String] = [], input: String) async throws -> ProcessResult {
        try await offThePool { try runOracleBlocking(code, arguments: arguments, input: input) }
    }

    /// Runs Python `code` with `input` as JSON on stdin and decodes the JSON it prints; a
    /// failing script is an error carrying its stderr.
    public static func runJSONOracle(_ code: String, _ input: Any) async throws -> Any {
        let data = try JSONSerialization.data(withJSONObject: input)
        let result = try await runOracle(code, input: String(decoding: data, as: UTF8.self))
        guard result.status == 0 else { throw TestSupportError("oracle failed: \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    /// ``runOracle(_:arguments:input:)`` for synchronous contexts (test traits); blocks the caller.
    public static func runOracleBlocking(_ code: String, arguments: [String] = [], input: String) throws -> ProcessResult {
        guard let python = oraclePython else {
            throw TestSupportError("no oracle Python: run scripts/test (it creates .venv) or set ORACLE_PYTHON")
        }
        return try runBlocking(python, ["-c", code] + arguments, input: input)
    }

    /// Runs an executable to completion, feeding `input` and collecting both outputs. The wait
    /// happens on a thread of its own: tests run in parallel on a cooperative pool as wide as
    /// the machine (2 threads in CI), and a blocked pool thread delays every other test's
    /// continuations — enough to break the timing the IMDS tests measure.
    public static func run(
        _ executable: String, _ arguments: [String], input: String = "",
        environment: [String: String]? = nil, timeout: Duration = .seconds(600)
    ) async throws -> ProcessResult {
        try await offThePool { try runBlocking(executable, arguments, input: input, environment: environment, timeout: timeout) }
    }

    /// Runs blocking `work` on a new thread and resumes with its result.
    public static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    /// ``run(_:_:input:environment:)``, blocking the caller.
    ///
    /// Bounded: a process still running after `timeout` is killed and the call throws, naming
    /// it — a stuck child fails its test instead of hanging the suite. Output is collected
    /// until the process exits and its pipes reach end of file, but not past a short grace: a
    /// grandchild that kept the pipes open does not hold the caller.
    public static func runBlocking(
        _ executable: String, _ arguments: [String], input: String = "",
        environment: [String: String]? = nil, timeout: Duration = .seconds(600)
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Read both pipes concurrently so neither can fill up and block the child.
        let out = PipeCollector(stdout.fileHandleForReading), err = PipeCollector(stderr.fileHandleForReading)
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let exit = ChildExit.wait(process.processIdentifier, timeout: timeout)
        if exit == nil { ChildExit.kill(process.processIdentifier) }
        let grace = DispatchTime.now() + .seconds(5)
        out.wait(until: grace)
        err.wait(until: grace)
        guard exit != nil else {
            // The command's name only: its arguments may carry test secrets.
            throw TestSupportError("\(executable) \(arguments.first ?? "") did not finish within \(timeout) and was killed; stderr ends: \(err.text.suffix(500))")
        }
        return ProcessResult(status: process.exitStatus, stdout: out.text, stderr: err.text)
    }
}

/// Reads a pipe to its end on a thread of its own, keeping what arrived so far readable.
public final class PipeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    public init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while case let chunk = handle.availableData, !chunk.isEmpty {
                lock.withLock { data.append(chunk) }
            }
            // Closed here, not when the Pipe is released: Foundation keeps Process objects
            // (and their pipes) longer than the test does.
            try? handle.close()
            done.signal()
        }
    }

    /// Waits for end of file, but not past `deadline`.
    public func wait(until deadline: DispatchTime) {
        if done.wait(timeout: deadline) == .success { done.signal() }
    }

    /// Whether the pipe has reached end of file.
    public var isFinished: Bool {
        guard done.wait(timeout: .now()) == .success else { return false }
        done.signal()
        return true
    }

    public var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// What a finished process printed and returned.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var lines: [String] {
        stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension TestEnvironment {
    /// Whether tests that need these oracle modules should run. With `REQUIRE_ORACLES=1` (as
    /// `scripts/test` sets) they always run, so a missing oracle fails loudly instead of
    /// skipping quietly.
    public static func shouldRunOracleTests(_ modules: String...) -> Bool {
        if ProcessInfo.processInfo.environment["REQUIRE_ORACLES"] == "1" { return true }
        guard oraclePython != nil else { return false }
        let imports = modules.map { "import \($0)" }.joined(separator: "; ")
        return (try? runOracleBlocking(imports, input: ""))?.status == 0
    }
}

extension Array where Element: Equatable {
    /// Whether `needle` occurs as a contiguous run.
    public func contains(_ needle: [Element]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        for start in 0...(count - needle.count) where self[start..<start + needle.count].elementsEqual(needle) {
            return true
        }
        return false
    }
}

/// A free TCP port on 127.0.0.1 for a server a test starts.
///
/// Taken in turn from 20000–32767, below the kernel's ephemeral range (32768–60999), and checked
/// free by binding it. Port 0's answer (the old way) came from the ephemeral range, where every
/// outbound connection of every test also takes its local port: a flood of 2,500 client
/// connections made a port handed to an OpenBao node busy before the node bound it ("address
/// already in use", seen once in a clean-clone run).
public func freePort() -> Int {
    PortAllocator.shared.next()
}

/// Two consecutive free ports, P and P+1, both handed out: for servers that take the port after
/// their own (`bao server -dev` puts its cluster listener on P+1).
public func freePortPair() -> Int {
    PortAllocator.shared.nextPair()
}

final class PortAllocator: @unchecked Sendable {
    static let shared = PortAllocator()
    private let lock = NSLock()
    private var cursor = Int.random(in: 0..<12768)

    func next() -> Int {
        lock.withLock {
            for _ in 0..<12768 {
                let port = 20000 + cursor
                cursor = (cursor + 1) % 12768
                if Self.isFree(port) { return port }
            }
            return 0
        }
    }

    func nextPair() -> Int {
        lock.withLock {
            for _ in 0..<12768 {
                let port = 20000 + cursor
                cursor = (cursor + 2) % 12766
                if Self.isFree(port) && Self.isFree(port + 1) { return port }
            }
            return 0
        }
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// A helper server written in Python (a fake or a proxy under `Tests/…/Oracle/`), started under
/// the oracle interpreter on a free loopback port. The script takes the port as its first
/// argument and prints `ready PORT` once it listens; it is terminated when this is released.
public final class OracleServer: @unchecked Sendable {
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    private let process = Process()
    private let directory: URL

    /// Starts `script` (a path from the package root, e.g. `Tests/AWSAuthTests/Oracle/imds_fake.py`)
    /// and returns once it listens; the wait for its first line happens off the cooperative pool.
    /// The free port is found by binding and releasing it, so another test's socket can take it
    /// before the script binds: a start that fails with "Address already in use" is retried on
    /// a new port (seen in CI, once in ~140 tests).
    public static func start(script: String, arguments: [String]) async throws -> OracleServer {
        try await TestEnvironment.offThePool {
            for _ in 0..<4 {
                do { return try OracleServer(script: script, arguments: arguments) } catch let error as TestSupportError
                    where error.description.contains("Address already in use") { continue }
            }
            return try OracleServer(script: script, arguments: arguments)
        }
    }

    private init(script: String, arguments: [String]) throws {
        port = freePort()
        guard let python = TestEnvironment.oraclePython else {
            throw TestSupportError("no oracle Python: run scripts/test (it creates .venv) or set ORACLE_PYTHON")
        }
        // Its stderr goes to a log of its own (kept with the others for the secret scan), not
        // to the test runner's: nothing but the runner may hold the suite's output open.
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("oracle-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logPath = directory.appendingPathComponent(URL(fileURLWithPath: script).deletingPathExtension().lastPathComponent + ".log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [TestEnvironment.packageRoot.appendingPathComponent(script).path, String(port)] + arguments
        let output = Pipe()
        process.standardOutput = output
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardError = log
        try process.run()
        try? log.close()   // the child has its own copy (see ChildProcess)
        // The script prints its line before it serves anything; wait for it (or for its exit,
        // which closes the pipe), bounded only by the hang guard.
        var ready = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
        let guardMilliseconds = Int32(TestEnvironment.hangGuard.components.seconds * 1000)
        let line = poll(&ready, 1, guardMilliseconds) == 1 ? String(decoding: output.fileHandleForReading.availableData, as: UTF8.self) : ""
        guard line.hasPrefix("ready") else {
            ChildExit.kill(process.processIdentifier)
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            SecretLedger.removeDirectory(directory)
            throw TestSupportError("\(script) did not start: \(log.suffix(800))")
        }
    }

    deinit {
        // SIGKILL: children of the test runner inherit its blocked-signal mask, SIGTERM included.
        ChildExit.kill(process.processIdentifier)
        SecretLedger.removeDirectory(directory)
    }
}

/// The Azure fake (`Tests/AzureAuthTests/Oracle/azure_fake.py`) with its set-up: a TLS
/// certificate for 127.0.0.1, a tenant with a secret, a certificate and a workload-identity
/// client, two managed identities and an App Service identity header.
public final class AzureFake: @unchecked Sendable {
    public let server: OracleServer
    public let directory: URL
    /// What `azure_setup.py` printed: tenant, clients, identities, tls_cert.
    public let setup: [String: Any]
    public var httpsURL: String { "https://127.0.0.1:\(server.port)" }
    public var httpURL: String { "http://127.0.0.1:\(server.port)" }
    public var tenant: String { setup["tenant"] as! String }
    public var caCert: String { setup["tls_cert"] as! String }
    public func client(_ kind: String) -> [String: String] { setup[kind] as! [String: String] }
    public var managedIdentities: [[String: String]] { setup["managed_identities"] as! [[String: String]] }
    public var identityHeader: String { setup["identity_header"] as! String }

    public static func start() async throws -> AzureFake {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("azure-\(UUID().uuidString.prefix(8))")
        let result = try await TestEnvironment.runOracle(
            try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("Tests/AzureAuthTests/Oracle/azure_setup.py"), encoding: .utf8),
            arguments: [directory.path], input: "")
        guard result.status == 0, let setup = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestSupportError("azure_setup.py failed: \(result.stderr)")
        }
        let server = try await OracleServer.start(script: "Tests/AzureAuthTests/Oracle/azure_fake.py", arguments: [setup["config"] as! String])
        return AzureFake(server: server, directory: directory, setup: setup)
    }

    private init(server: OracleServer, directory: URL, setup: [String: Any]) {
        self.server = server
        self.directory = directory
        self.setup = setup
    }

    /// Environment variables that make the named credential kind the one chosen (and point
    /// managed identity at the fake, never at 169.254.169.254).
    public func environment(for kind: String) -> [String: String] {
        var environment = ["AZURE_TENANT_ID": tenant, "AZURE_AUTHORITY_HOST": httpsURL, "AZURE_POD_IDENTITY_AUTHORITY_HOST": httpURL]
        switch kind {
        case "client_secret":
            environment["AZURE_CLIENT_ID"] = client("secret_client")["client_id"]
            environment["AZURE_CLIENT_SECRET"] = client("secret_client")["secret"]
        case "client_certificate":
            environment["AZURE_CLIENT_ID"] = client("certificate_client")["client_id"]
            environment["AZURE_CLIENT_CERTIFICATE_PATH"] = client("certificate_client")["certificate"]
        case "workload_identity":
            environment["AZURE_CLIENT_ID"] = client("workload_client")["client_id"]
            environment["AZURE_FEDERATED_TOKEN_FILE"] = client("workload_client")["token_file"]
        case "app_service":
            environment["IDENTITY_ENDPOINT"] = httpURL + "/msi/token"
            environment["IDENTITY_HEADER"] = identityHeader
        default:  // vm_managed_identity
            break
        }
        return environment
    }

    /// The identity the fake records for Key Vault calls made with `kind`'s tokens.
    public func identity(for kind: String) -> String {
        switch kind {
        case "client_secret": client("secret_client")["client_id"]!
        case "client_certificate": client("certificate_client")["client_id"]!
        case "workload_identity": client("workload_client")["client_id"]!
        case "app_service": "appservice:" + managedIdentities[0]["client_id"]!
        default: "vm:" + managedIdentities[0]["client_id"]!
        }
    }

    public static let credentialKinds = ["client_secret", "client_certificate", "workload_identity", "app_service", "vm_managed_identity"]

    /// Sends a control request: `faults`, `forbid`, `token_lifetime`, `expire_tokens`, `clear_log`.
    public func control(_ request: [String: Any]) async throws {
        let body = try JSONSerialization.data(withJSONObject: request)
        let response = try await HTTPClient.send(HTTPClientRequest(method: "POST", url: httpURL + "/fake/control", body: Array(body)))
        guard response.status == 200 else { throw TestSupportError("the Azure fake refused the control request: HTTP \(response.status)") }
    }

    /// The Key Vault requests seen so far: `[{t, method, path, op, authorised, fault?}]`.
    public func log() async throws -> [[String: Any]] {
        let response = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: httpURL + "/fake/log"))
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]]) ?? []
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}
