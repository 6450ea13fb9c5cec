import CVaultSystem
import DurableFile
import LeanFoundation
import HTTPServerKit
import HTTPTransport
import Logging
import NIOHTTP1
import SealKit
import SealSourceCore
import SealSources
import ServiceLifecycle
import Synchronization
import VaultClient

/// The unseal agent: one ``TargetLoop`` per vault, a telemetry endpoint, systemd readiness and
/// watchdog, and a clean exit on SIGTERM/SIGINT.
public enum UnsealAgentRunner {
    /// - Parameter custodian: how to start the init custodian (``ShareCustody``); `nil` runs
    ///   OpenBao/Vault's init in this process.
    public static func run(_ configuration: AgentConfiguration, custodian: InitCustodian? = nil) async throws {
        let logger = Logger(label: "unseal-agent")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        // The key that cloaks cached cloud credentials (CloakedText), made now rather than at
        // the first fetch, so a host that cannot lock memory is reported at start.
        if !CloakingKey.process.isLocked {
            logger.warning("cannot lock the credential-cloaking key in memory (mlock): raise RLIMIT_MEMLOCK (LimitMEMLOCK= in systemd) or grant CAP_IPC_LOCK; it could reach swap")
        }
        // Descriptors: the soft limit up to the hard one, and the telemetry listener under the
        // same connection budget and timeouts as vaultd's (ConnectionBudget).
        let files = ConnectionBudget.raiseOpenFileLimit()
        logger.info("open file limit", metadata: [
            "RLIMIT_NOFILE": "\(files.after)\(files.after > files.before ? " (raised from \(files.before))" : "")",
            "telemetry_connections": "\(ConnectionBudget.shared.capacity - ConnectionBudget.shared.reservedForUnix)",
        ])
        // What a writer killed mid-write left: temporaries beside the material, the init record
        // and the root token file (the first and last may hold secrets).
        for case let store as any StoringSealSource in configuration.sources {
            var removed = store.removeStaleTemporaries()
            if let local = store.localPath { removed += AtomicFile.removeStaleTemporaries(of: InitRecord.path(beside: local)) }
            if removed > 0 { logger.info("removed \(removed) temporary file(s) a killed writer left beside \(store.name)") }
        }
        if let path = configuration.initSettings.rootTokenPath, AtomicFile.removeStaleTemporaries(of: path) > 0 {
            logger.info("removed a temporary root-token file a killed writer left", metadata: ["path": "\(path)"])
        }
        let metrics = AgentMetrics()
        let readiness = Readiness(targets: configuration.targets.count)

        var telemetry: HTTPListener?
        if let address = configuration.telemetryAddress {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw AgentError("telemetry.address: expected HOST:PORT such as \"127.0.0.1:9102\"; got \"\(address)\"")
            }
            var host = String(address[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            do {
                telemetry = try await HTTPListener.bind(
                    .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port, tls: nil),
                    responder: TelemetryResponder(metrics: metrics), maxRequestSize: 4096, logger: logger
                )
            } catch {
                throw AgentError("telemetry.address \(address): cannot listen: \(ListenFailure.reason(error))")
            }
        }

        let initFlight = InitFlight()
        let loops = try configuration.targets.map { target in
            try TargetLoop(
                target: target, sources: configuration.sources, initSettings: configuration.initSettings,
                retry: configuration.retry, metrics: metrics, logger: logger, custodian: custodian,
                initFlight: initFlight, peers: configuration.peers(of: target),
                onUnsealed: { readiness.unsealed(target.address) }
            )
        }
        logger.info("unseal-agent started", metadata: [
            "targets": "\(configuration.targets.map(\.address).joined(separator: ", "))",
            "sources": "\(configuration.sources.map(\.name).joined(separator: ", "))",
            "init": "\(configuration.initSettings.enabled)",
            "telemetry": "\(configuration.telemetryAddress ?? "off")",
        ])

        // READY=1 as soon as the agent watches its vaults, not after the first unseal: a vault
        // not initialised yet, or a KMS down at boot, would otherwise hold `systemctl start`
        // until TimeoutStartSec, fail the unit, and — restarted again and again — exhaust
        // StartLimitBurst, after which systemd stops trying. Unsealed-ness is /readyz and STATUS=.
        // The loader's relocation table has done its work; its pages need not stay resident.
        _ = csystem_release_relocation_table()
        _ = csystem_sd_notify("READY=1\nSTATUS=watching \(configuration.targets.count) vault(s)")
        // Every part under one ServiceGroup: SIGTERM or SIGINT stops the loops where they are
        // (a key push in flight is cancelled; the vault keeps whatever it was given), closes the
        // telemetry listener, and returns once all of them have finished. A loop that ended on
        // its own would not stop the others.
        var services = loops.map { ServiceGroupConfiguration.ServiceConfiguration(service: TargetLoopService(loop: $0), successTerminationBehavior: .ignore, serviceName: "vault \($0.name)") }
        if let telemetry { services.append(.init(service: telemetry, serviceName: "telemetry")) }
        if let watchdog = Watchdog.fromEnvironment() { services.append(.init(service: watchdog, serviceName: "systemd watchdog")) }
        services.append(.init(service: StopNotice(logger: logger), serviceName: "stop notice"))
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(10)
        try await ServiceGroup(configuration: group).run()
        logger.info("stopped")
    }
}

/// A ``TargetLoop`` as a service: it runs until graceful shutdown, then stops where it is.
struct TargetLoopService: Service {
    let loop: TargetLoop

    func run() async throws {
        await cancelWhenGracefulShutdown { await loop.run() }
    }
}

/// Tells systemd (`STATUS=`) once every target has been unsealed for the first time.
final class Readiness: Sendable {
    private let state: Mutex<(expected: Int, seen: Set<String>, notified: Bool)>

    init(targets: Int) { state = Mutex((targets, [], false)) }

    func unsealed(_ target: String) {
        let notify = state.withLock { state -> Bool in
            state.seen.insert(target)
            guard !state.notified, state.seen.count >= state.expected else { return false }
            state.notified = true
            return true
        }
        if notify { _ = csystem_sd_notify("STATUS=every vault unsealed") }
    }
}

/// `WATCHDOG=1` every half `$WATCHDOG_USEC`, when systemd asks for it.
struct Watchdog: Service {
    let interval: Duration

    static func fromEnvironment() -> Watchdog? {
        guard let text = ProcessInfo.processInfo.environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 else { return nil }
        return Watchdog(interval: .microseconds(microseconds / 2))
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = csystem_sd_notify("WATCHDOG=1")
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// `/metrics`, `/healthz` (the process is alive), `/readyz` (every target unsealed).
struct TelemetryResponder: HTTPResponder {
    let metrics: AgentMetrics

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch request.path {
        case "/metrics":
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4"], body: Array((metrics.prometheus() + ProcessMetrics.prometheus()).utf8))
        case "/healthz":
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: Array("ok\n".utf8))
        case "/readyz":
            let ready = metrics.allUnsealed
            return HTTPResponse(status: ready ? .ok : .serviceUnavailable, headers: ["Content-Type": "text/plain"],
                                body: Array((ready ? "ready\n" : "not ready: a vault is sealed or unreachable\n").utf8))
        default:
            return HTTPResponse(status: .notFound, body: Array("not found\n".utf8))
        }
    }
}
