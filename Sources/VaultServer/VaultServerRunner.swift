import CVaultSystem
import Dispatch
import Foundation
import HTTPServerKit
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SealKit
import ServiceLifecycle
import UnixSignals
import VaultCore
import VaultStoragePostgres
import VaultStorageSQLite

/// Starts vaultd: storage, the vault core, every listener; serves until SIGTERM or SIGINT,
/// then lets requests in progress finish, wipes the keys and returns.
public enum VaultServerRunner {
    /// `vaultd server --dev` extras: initialise and unseal at start and print the secrets.
    public struct DevOptions: Sendable {
        public var printCredentials: Bool
        public init(printCredentials: Bool = true) { self.printCredentials = printCredentials }
    }

    public static func run(_ configuration: ServerConfiguration, dev: DevOptions? = nil, environment: [String: String]) async throws {
        let logger = Logger(label: "vaultd")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        umask(0o077)
        do { try ProcessHardening.disableCoreDumps() } catch {
            logger.warning("could not disable core dumps", metadata: ["error": "\(error.reason)"])
        }
        // Descriptors: the soft limit up to the hard one, and a budget below it (ConnectionBudget).
        let files = ConnectionBudget.raiseOpenFileLimit()
        let budget = ConnectionBudget.shared
        logger.info("open file limit", metadata: [
            "RLIMIT_NOFILE": "\(files.after)\(files.after > files.before ? " (raised from \(files.before))" : "")",
            "connections": "\(budget.capacity) (\(budget.reservedForUnix) kept for the unix socket)",
        ])
        let probe = try SecretBytes(zeroedCount: 1)
        if !probe.isLocked {
            logger.warning("cannot lock key pages in memory (mlock): raise RLIMIT_MEMLOCK (LimitMEMLOCK= in systemd) or grant CAP_IPC_LOCK; keys could reach swap")
        }

        // PostgreSQL's connection pool runs from here on: its work is awaited at shutdown, after
        // the listeners' and the lease's (ServiceGroup stops services in reverse order).
        let storage: any StorageBackend
        var background = [ServiceGroupConfiguration.ServiceConfiguration]()
        var shared: (any SharedStorage)?
        var sqlite: SQLiteStorage?
        switch configuration.storage {
        case .sqlite(let path):
            let file = try SQLiteStorage(path: path)
            sqlite = file
            // One server holds the file (its lock), so every write passes the cache. Shared
            // storage is never cached: another node writes it.
            storage = configuration.storageCache.map { CachingStorage(file, limits: $0) } ?? file
        case .postgresql(let settings):
            let postgres: PostgresStorage
            do { postgres = try PostgresStorage(settings, logger: Logger(label: "vaultd.storage")) } catch let error as PostgresSettingsError {
                throw VaultServerError("storage \"postgresql\": \(error.description)")
            }
            do { try await postgres.prepare() } catch {
                await postgres.shutdown()
                throw VaultServerError("storage \"postgresql\": \(error)")
            }
            background.append(.init(service: PoolService(storage: postgres), serviceName: "postgresql pool"))
            storage = postgres
            if settings.haEnabled { shared = postgres }
        }
        let core = VaultCore(storage: storage, validationHash: configuration.validationHash, logger: Logger(label: "vaultd.core"))
        try await core.load()
        await core.declareAuditDevices(configuration.auditDevices)
        let hangUps = await UnixSignalsSequence(trapping: .sighup)
        let leadership = Leadership(storage: shared, address: configuration.apiAddress ?? "")
        // Stopped first (ServiceGroup stops in reverse order): at SIGTERM the lease goes at
        // once, so a standby takes over while this node drains; writes still in flight here are
        // refused (not acknowledged) and the client retries on the new active node.
        var leading = [ServiceGroupConfiguration.ServiceConfiguration]()
        if let shared {
            leading.append(.init(service: LeadershipService(leadership: leadership, storage: shared, core: core, logger: Logger(label: "vaultd.ha")), serviceName: "leadership"))
        }

        let allowUnsealerKey = dev != nil || environment["SEAL_UNSEAL_PROVIDER"] == "environment"
        let api = VaultAPI(core: core, logger: Logger(label: "vaultd.http"), allowUnsealerKey: allowUnsealerKey, maxSecretSize: configuration.maxSecretSize,
                           leadership: leadership, forwardingCABundle: environment["VAULT_CACERT"], allowAPIAuditCreation: configuration.allowAPIAuditCreation,
                           unauthenticatedMetrics: configuration.unauthenticatedMetricsAccess)

        var scheduled: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: KeyringRotationService(core: core, leadership: leadership, logger: Logger(label: "vaultd.keyring")), serviceName: "keyring rotation"),
            .init(service: HangUpService(signals: hangUps, configurationPath: configuration.sourcePath, environment: environment, core: core, audit: api.audit,
                                         leadership: leadership, logger: Logger(label: "vaultd.reload")), serviceName: "SIGHUP"),
        ]
        if let schedule = configuration.snapshotSchedule {
            try prepareSnapshotDirectory(schedule.directory)
            scheduled.append(.init(service: SnapshotScheduleService(schedule: schedule, core: core, leadership: leadership, metrics: api.metrics, logger: Logger(label: "vaultd.snapshot")),
                                   serviceName: "scheduled snapshots"))
        }

        var listeners = [HTTPListener]()
        for listener in configuration.listeners {
            listeners.append(try await bind(listener, api: api, logger: logger))
        }

        if dev != nil {
            try await initializeForDevelopment(core: core, listeners: listeners)
        }

        let sealed = await core.isSealed
        let initialized = await core.isInitialized
        logger.info("vaultd started", metadata: [
            "version": "\(VaultBuild.version)", "storage": "\(configuration.storage.description)", "ha": "\(leadership.isEnabled ? "enabled, api_addr \(leadership.address)" : "off")",
            "listeners": "\(listeners.map { describe($0) }.joined(separator: ", "))",
            "state": "\(initialized ? (sealed ? "sealed" : "unsealed") : "uninitialized")",
        ])
        // The loader's relocation table has done its work; its pages need not stay resident.
        _ = csystem_release_relocation_table()
        _ = csystem_sd_notify("READY=1\nSTATUS=listening")

        // The listeners run under one ServiceGroup: SIGTERM or SIGINT shuts them down
        // gracefully (requests in progress finish, idle connections close), and after 10 s the
        // rest are cancelled. The group returns once every listener and every connection it
        // served has finished.
        var group = ServiceGroupConfiguration(
            services: background
                + listeners.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0, serviceName: describe($0)) }
                + scheduled
                + leading
                + [.init(service: StopNotice(logger: logger), serviceName: "stop notice")],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        group.maximumGracefulShutdownDuration = .seconds(10)
        try await ServiceGroup(configuration: group).run()
        await core.seal()
        do { try sqlite?.checkpoint() } catch {
            logger.warning("could not move the write-ahead log into the database file; SQLite replays it at the next start", metadata: ["error": "\(error)"])
        }
        sqlite?.releaseServerLock()
        logger.info("vaultd stopped; keys wiped")
    }

    /// The `snapshot` block's directory exists (created 0700 if not) and takes files: said at
    /// start, naming the setting, rather than at the first snapshot an hour later.
    private static func prepareSnapshotDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw VaultServerError("snapshot: cannot create the directory in path (\(directory)): \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw VaultServerError("snapshot: path (\(directory)) is a file, not a directory")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw VaultServerError("snapshot: vaultd cannot write into path (\(directory)): \(String(cString: strerror(errno)))")
        }
    }

    static func describe(_ listener: HTTPListener) -> String {
        if case .tcp(let host, _, let tls) = listener.address, let port = listener.boundPort {
            return "\(tls == nil ? "http" : "https")://\(host):\(port)"
        }
        return "\(listener.address)"
    }

    private static func bind(_ listener: ServerConfiguration.Listener, api: VaultAPI, logger: Logger) async throws -> HTTPListener {
        let address: HTTPListener.Address
        switch listener.kind {
        case .unix(let path, let mode, let uids, let gids):
            address = .unix(path: path, mode: mode, policy: PeerPolicy(allowedUIDs: uids, allowedGIDs: gids))
        case .tcp(let host, let port, let certFile, let keyFile):
            var tls: NIOSSLContext?
            if let certFile, let keyFile {
                do {
                    let chain = try NIOSSLCertificate.fromPEMFile(certFile).map { NIOSSLCertificateSource.certificate($0) }
                    let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
                    var tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
                    tlsConfiguration.minimumTLSVersion = .tlsv12
                    tls = try NIOSSLContext(configuration: tlsConfiguration)
                } catch {
                    throw VaultServerError("listener \"tcp\" (\(host):\(port)): cannot load tls_cert_file/tls_key_file: \(error)")
                }
            }
            address = .tcp(host: host, port: port, tls: tls)
        }
        do {
            let limits = HTTPListener.Limits(maxConnections: listener.maxConnections, timeouts: listener.timeouts, allowSealOperations: listener.allowSealOperations)
            return try await HTTPListener.bind(address, responder: api, maxRequestSize: listener.maxRequestSize, limits: limits, logger: logger)
        } catch let error as ListenerError {
            throw VaultServerError(error.description)
        } catch {
            throw VaultServerError("listener \(address): cannot listen: \(ListenFailure.reason(error))")
        }
    }

    private static func initializeForDevelopment(core: VaultCore, listeners: [HTTPListener]) async throws {
        let result: InitResult
        if await core.isInitialized {
            throw VaultServerError("--dev needs a fresh storage directory")
        }
        result = try await core.initialize(InitParameters())
        _ = try await core.submitUnsealKey(result.keysBase64[0])
        var lines = [
            "",
            "WARNING! dev mode is enabled. The vault is initialised and UNSEALED, its storage is a",
            "temporary directory, and the seal key and root token are printed below. This is for",
            "development only: never store real secrets in a dev server.",
            "",
        ]
        for listener in listeners {
            switch listener.address {
            case .unix(let path, _, _): lines.append("    VAULT_ADDR=unix://\(path)")
            case .tcp: lines.append("    VAULT_ADDR=\(describe(listener))")
            }
        }
        lines += [
            "",
            "Seal key phrase:  \(result.phrase ?? "")",
            "Validation hash:  \(result.validationHash)",
            "Root token:       \(result.rootToken)",
            "",
        ]
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

}

/// The PostgreSQL pool as a service of vaultd's group: started before the group (the tables are
/// prepared first), stopped after everything that queries through it.
private struct PoolService: Service {
    let storage: PostgresStorage
    func run() async throws {
        try? await gracefulShutdown()
        await storage.shutdown()
    }
}
