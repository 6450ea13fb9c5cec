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

        let notifier = configuration.webhooks.isEmpty ? nil : Notifier(configuration.webhooks)
        let initFlight = InitFlight()
        let loops = try configuration.targets.map { target in
            try TargetLoop(
                target: target, sources: configuration.sources, initSettings: configuration.initSettings,
                retry: configuration.retry, metrics: metrics, logger: logger, custodian: custodian,
                initFlight: initFlight, peers: configuration.peers(of: target), notifier: notifier,
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
        for delivery in notifier?.services(logger: logger) ?? [] {
            services.append(.init(service: delivery, successTerminationBehavior: .ignore, serviceName: "webhook"))
        }
        services.append(.init(service: SourceHealthCheck(sources: configuration.sources, interval: configuration.sourceCheckInterval,
                                                        metrics: metrics, logger: logger),
                              successTerminationBehavior: .ignore, serviceName: "seal source check"))
        for case let source as any MaintainedSealSource in configuration.sources {
            services.append(.init(service: SealSourceUpkeep(source: source, logger: logger), successTerminationBehavior: .ignore,
                                  serviceName: "upkeep of \(source.name)"))
        }
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

/// Fetches every seal source every `source_check_interval`, so that a source that
/// stopped answering — the fallback nobody has needed for months — shows in
/// `unseal_agent_source_up` and the log while the others still unseal. The material fetched is
/// dropped at once; only whether it came is kept.
struct SourceHealthCheck: Service {
    let sources: [any SealSource]
    let interval: Duration
    let metrics: AgentMetrics
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = [String: String]()   // source → the message last logged
            while !Task.isCancelled {
                // The first check one interval after start: at start the loops fetch anyway
                // (a sealed vault), and a KMS call saved is a KMS call saved.
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                for source in sources {
                    do throws(SealSourceError) {
                        _ = try await source.fetch()
                        metrics.sourceHealth(source: source.name, up: true)
                        if failing.removeValue(forKey: source.name) != nil {
                            logger.info("seal source answers again", metadata: ["source": "\(source.name)"])
                        }
                    } catch {
                        metrics.sourceHealth(source: source.name, up: false)
                        guard failing[source.name] != error.message else { continue }
                        failing[source.name] = error.message
                        if error.errorClass == .notFound {
                            logger.info("seal source holds no key material yet: \(error.message)", metadata: ["source": "\(source.name)"])
                        } else {
                            logger.warning("seal source check failed: \(error.message)", metadata: ["source": "\(source.name)", "class": "\(error.errorClass)"])
                        }
                    }
                }
            }
        }
    }
}

/// A source's upkeep (a Transit token's renewal) for as long as the agent runs.
struct SealSourceUpkeep: Service {
    let source: any MaintainedSealSource
    let logger: Logger

    func run() async throws {
        let logger = self.logger
        await cancelWhenGracefulShutdown {
            await source.maintain { level, message in
                if level == "warning" { logger.warning("\(message)") } else { logger.info("\(message)") }
            }
        }
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
        guard notify else { return }
        _ = csystem_sd_notify("STATUS=every vault unsealed")
        // Start-up (configuration, the first connections, the first unseal) ran code the
        // steady state never runs again; its pages leave the resident set now, and what the
        // watching loop needs comes back on its next round (docs/BENCHMARKS.md).
        _ = csystem_release_startup_code()
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
