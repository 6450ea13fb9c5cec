import Foundation
import HTTPServerKit
import Logging
import NIOHTTP1
import Synchronization
import VaultAudit
import VaultCore
import VaultWire

/// Where vaultd's requests meet the audit log. An audited request is written to every enabled
/// device before it runs and its answer after; when devices are enabled and none can write the
/// request, it is refused (500) before anything happens, and an answer none can write is
/// replaced by a 500 — a request never passes unaudited (Vault's rule).
///
/// Not audited, as in Vault: what every node answers itself (seal status, health, init, unseal,
/// leader, metrics) and anything while sealed — the devices and their keys are in the sealed
/// storage.
final class AuditGate: Sendable {
    let core: VaultCore
    let broker = AuditBroker()
    let logger: Logger
    let metrics: ServerMetrics
    /// The core's audit epoch the broker's devices were loaded at (nil: never).
    private let loadedEpoch = Mutex<UInt64?>(nil)
    /// Failures, logged once a minute however many requests meet them.
    private let warnings = ThrottledWarnings()

    init(core: VaultCore, metrics: ServerMetrics, logger: Logger) {
        self.core = core
        self.metrics = metrics
        self.logger = logger
    }

    /// After these the vault is sealed: the devices' keys go at once, not at the next request.
    static let sealPaths: Set = ["/v1/sys/seal", "/api/v1/seal"]

    static let refusal = "the request was refused: no enabled audit device could record it (the server log says why)"

    /// Runs `handler` for `request` between its two audit entries.
    func audited(_ request: HTTPRequest, _ handler: () async -> HTTPResponse) async -> HTTPResponse {
        do { try await refresh() } catch {
            warn("cannot read the audit devices; requests are refused until it can", error)
            return JSONResponse.error(.serviceUnavailable, "the audit devices cannot be read, so the request cannot be audited: \(error)")
        }
        guard !broker.isEmpty else { return await handler() }
        let facts = await self.facts(of: request)
        let written = await broker.record { hasher, hashAccessor in AuditEntry.request(facts, at: Date(), hasher: hasher, hashAccessor: hashAccessor) }
        report(written)
        guard written.isRecorded else { return JSONResponse.error(.internalServerError, Self.refusal) }

        let response = await handler()
        let answer = AuditResponseFacts(
            status: Int(response.status.code), body: response.body,
            errors: response.status.code >= 400 ? WireJSON.decode(ErrorResponse.self, from: response.body)?.errors ?? [] : []
        )
        let answered = await broker.record { hasher, hashAccessor in AuditEntry.response(facts, answer, at: Date(), hasher: hasher, hashAccessor: hashAccessor) }
        report(answered)
        guard answered.isRecorded else { return JSONResponse.error(.internalServerError, Self.refusal) }
        if Self.sealPaths.contains(request.path) { forget() }
        return response
    }

    /// Loads the devices again when the core says its table changed (unseal, seal, a new term,
    /// an enable or disable, a restore, a SIGHUP's new configuration).
    func refresh() async throws {
        let epoch = core.auditEpoch
        if loadedEpoch.withLock({ $0 }) == epoch { return }
        let table = try await core.auditTable()
        var wanted = [AuditBroker.Wanted]()
        for entry in table {
            do {
                wanted.append(.init(path: entry.device.path, options: try FileAuditOptions(entry.device.options), key: entry.key))
            } catch {
                // Options the configuration or the API checked; only a damaged or hand-made table
                // gets here. The device is kept, failing, rather than dropped unaudited.
                logger.error("an audit device's stored options are not valid; it records nothing", metadata: ["path": "\(entry.device.path)", "error": "\(error.message)"])
                wanted.append(.init(path: entry.device.path, options: try FileAuditOptions(["file_path": "/nonexistent/\(entry.device.path)"]), key: entry.key))
            }
        }
        for failure in broker.install(wanted) {
            logger.error("cannot open an audit device's file; it records nothing until it can (fix the path and send SIGHUP)",
                         metadata: ["path": "\(failure.path)", "error": "\(failure.error.message)"])
        }
        loadedEpoch.withLock { $0 = epoch }
    }

    /// Drops the devices and their keys (the vault sealed).
    func forget() {
        broker.removeAll()
        loadedEpoch.withLock { $0 = nil }
    }

    /// SIGHUP: every file opened again (logrotate moved the old one away).
    func reopen() {
        let failures = broker.reopenAll()
        for failure in failures {
            logger.error("cannot reopen an audit file; the device keeps writing where it was", metadata: ["path": "\(failure.path)", "error": "\(failure.error.message)"])
        }
        logger.info("audit files reopened", metadata: ["devices": "\(broker.paths.count)", "failed": "\(failures.count)"])
    }

    private func report(_ outcome: AuditBroker.Outcome) {
        if !outcome.failures.isEmpty { metrics.auditWritesFailed(outcome.failures.count) }
        if !outcome.isRecorded { metrics.auditRefused() }
        for failure in outcome.failures {
            warn("an audit device could not record a request\(outcome.isRecorded ? "; another did" : " and no other did: the request is refused")",
                 failure.error, device: failure.path)
        }
    }

    private func warn(_ message: String, _ error: any Error, device: String? = nil) {
        let detail = (error as? AuditError)?.message ?? "\(error)"
        guard let count = warnings.shouldLog(message + detail) else { return }
        var metadata: Logger.Metadata = ["error": "\(detail)", "in_last_minute": "\(count)"]
        if let device { metadata["device"] = "\(device)" }
        logger.error("\(message)", metadata: metadata)
    }

    private func facts(of request: HTTPRequest) async -> AuditRequestFacts {
        let token = VaultAPI.token(of: request)
        var caller: AuditRequestFacts.Caller?
        if let token, let record = try? await core.authenticate(token) {
            caller = .init(accessor: record.accessor, displayName: record.displayName, policies: record.policies)
        }
        var path = Substring(request.path)
        while path.hasPrefix("/") { path = path.dropFirst() }
        if path.hasPrefix("v1/") { path = path.dropFirst(3) }
        var facts = AuditRequestFacts(
            id: UUID().uuidString.lowercased(), operation: Self.operation(request), path: String(path), token: token, caller: caller,
            body: request.body, query: request.query, remoteAddress: "unix"
        )
        switch request.peer {
        case .unix(let uid, _, let pid):
            facts.peerUID = uid
            facts.peerPID = pid
        case .tcp(let address):
            // NIO writes "[IPv4]127.0.0.1/127.0.0.1:54321".
            let hostPort = address.split(separator: "/").last.map(String.init) ?? address
            if let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]) {
                facts.remoteAddress = String(hostPort[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                facts.remotePort = port
            } else {
                facts.remoteAddress = hostPort
            }
        }
        return facts
    }

    /// Vault's operation names.
    static func operation(_ request: HTTPRequest) -> String {
        switch request.method {
        case .GET, .HEAD: VaultAPI.flag(request.query["list"]) ? "list" : "read"
        case .DELETE: "delete"
        case .RAW(value: "LIST"): "list"
        default: "update"
        }
    }
}
