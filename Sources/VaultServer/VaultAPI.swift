import Foundation
import HTTPServerKit
import Logging
import NIOHTTP1
import SealKit
import VaultCore
import VaultWire

/// vaultd's HTTP API: Vault's `sys` endpoints, the Provide vault's seal endpoints, and the
/// resource API under `/api/v1`. One instance serves every listener.
public struct VaultAPI: HTTPResponder {
    let core: VaultCore
    let logger: Logger
    let unsealGuard = UnsealGuard()
    /// Storage problems, logged once a minute however many requests meet them.
    let storageWarnings = ThrottledWarnings()
    let metrics: ServerMetrics
    /// Whether `POST /api/v1/unsealerkey` may hand out keys (dev mode or
    /// `SEAL_UNSEAL_PROVIDER=environment`).
    let allowUnsealerKey: Bool
    /// The largest secret value accepted, in bytes (`max_secret_size`).
    let maxSecretSize: Int
    /// Active or standby on shared storage (always active on SQLite).
    let leadership: Leadership
    /// `VAULT_CACERT`: the CA bundle a standby trusts when it forwards to the active node's
    /// https `api_addr` (nil: the system's).
    let forwardingCABundle: String?
    /// The audit log between every audited request and its answer (AuditGate.swift).
    let audit: AuditGate
    /// `unsafe_allow_api_audit_creation`: whether `sys/audit/<path>` may enable a device.
    let allowAPIAuditCreation: Bool
    /// `telemetry { unauthenticated_metrics_access }`: `sys/metrics` without a token.
    let unauthenticatedMetrics: Bool
    private var router = Router()

    public init(core: VaultCore, logger: Logger, allowUnsealerKey: Bool, maxSecretSize: Int = ServerConfiguration.defaultMaxSecretSize,
                leadership: Leadership = Leadership(storage: nil, address: ""), forwardingCABundle: String? = nil,
                allowAPIAuditCreation: Bool = false, unauthenticatedMetrics: Bool = false) {
        self.unauthenticatedMetrics = unauthenticatedMetrics
        self.core = core
        let metrics = ServerMetrics()
        self.metrics = metrics
        self.audit = AuditGate(core: core, metrics: metrics, logger: Logger(label: "vaultd.audit"))
        self.allowAPIAuditCreation = allowAPIAuditCreation
        self.leadership = leadership
        self.forwardingCABundle = forwardingCABundle
        self.logger = logger
        self.allowUnsealerKey = allowUnsealerKey
        self.maxSecretSize = maxSecretSize
        addSysRoutes()
        addProvideRoutes()
        addResourceRoutes()
        addKeyRoutes()
        addHARoutes()
        addSnapshotRoutes()
        addGenerateRootRoutes()
        addTokenRoutes()
        addRekeyRoutes()
        addKeyringRoutes()
        addAuditRoutes()
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        let started = ContinuousClock.now
        var response: HTTPResponse
        var pattern = "forwarded"
        if leadership.isEnabled && !leadership.isActive && !Self.servedByEveryNode.contains(request.path) {
            response = await answerAsStandby(request)
        } else if leadership.isEnabled, let term = leadership.term {
            // The term that served it, when it held from start to end: what an operator (and the
            // failover test) checks an answer against. A term that changed meanwhile says so.
            (response, pattern) = await routeAudited(request)
            response.headers.replaceOrAdd(name: "X-Vaultd-Term", value: leadership.term == term ? "\(term.epoch)" : "changed")
        } else {
            (response, pattern) = await routeAudited(request)
        }
        metrics.record(route: pattern, status: response.status.code, seconds: (ContinuousClock.now - started).seconds)
        // Paths hold only ids; bodies and headers (keys, tokens) are never logged.
        logger.debug("request", metadata: [
            "method": "\(request.method.rawValue)", "path": "\(request.path)", "status": "\(response.status.code)",
            "peer": "\(request.peer)", "ms": "\((ContinuousClock.now - started).milliseconds)",
        ])
        return response
    }

    /// Paths every node answers itself (status, unseal) are not audited, as in Vault.
    private func routeAudited(_ request: HTTPRequest) async -> (HTTPResponse, pattern: String) {
        if Self.servedByEveryNode.contains(request.path) { return await route(request) }
        var pattern = "unmatched"
        let response = await audit.audited(request) {
            let (response, matched) = await route(request)
            pattern = matched
            return response
        }
        return (response, pattern)
    }

    /// The answer, and the route pattern that served it (`unmatched` for none).
    private func route(_ request: HTTPRequest) async -> (HTTPResponse, pattern: String) {
        let response: HTTPResponse
        var pattern = "unmatched"
        switch router.match(request.method, request.path) {
        case .found(let handler, let parameters, let matched):
            pattern = matched
            do {
                response = try await handler(request, parameters)
            } catch let error as WireError {
                response = JSONResponse.error(error)
            } catch let error as VaultError {
                if error.code == .storageUnavailable, let count = storageWarnings.shouldLog(error.message) {
                    logger.error("storage cannot be trusted", metadata: ["problem": "\(error.message)", "refused_in_last_minute": "\(count)"])
                }
                response = JSONResponse.error(error)
            } catch {
                logger.error("request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
                response = JSONResponse.error(.internalServerError, "internal error")
            }
        case .methodNotAllowed:
            response = JSONResponse.error(.methodNotAllowed, "\(request.method.rawValue) is not supported on \(request.path)")
        case .notFound:
            response = JSONResponse.error(.notFound, "no handler for \(request.path)")
        }
        return (response, pattern)
    }

    // MARK: - Helpers

    /// A query flag as Vault reads one: present without a value, or true/1.
    /// A query flag as Vault reads one (Go's `strconv.ParseBool`): `1`, `t`, `true` in any case
    /// are true — clients send `True` (hvac, through Python's `str(True)`) as well as `true`. A
    /// bare `?flag` is true too.
    static func flag(_ value: String?) -> Bool {
        guard let value else { return false }
        return value.isEmpty || ["1", "t", "true"].contains(value.lowercased())
    }

    static func token(of request: HTTPRequest) -> String? {
        if let token = request.headers.first(name: "X-Vault-Token"), !token.isEmpty { return token }
        if let authorization = request.headers.first(name: "Authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]) }
        }
        return nil
    }

    /// Unsealed and authenticated, or the right error: 503 while sealed, 403 without a token.
    func authorize(_ request: HTTPRequest) async throws -> TokenRecord {
        guard await !core.isSealed else { throw VaultError(.sealed, "vault is sealed") }
        return try await core.authenticate(Self.token(of: request))
    }

    /// The vault `id` if the caller's token reaches it and has `capability` there. A vault the
    /// token does not reach is "not found", so a scoped token cannot probe for other vaults.
    func authorize(_ request: HTTPRequest, vault id: String, _ capability: Capability) async throws -> VaultRecord {
        let token = try await authorize(request)
        let vault = try await reachable(id, by: token)
        guard token.has(capability) else {
            throw VaultError(.permissionDenied, "permission denied: this token lacks the '\(capability.rawValue)' capability")
        }
        return vault
    }

    func reachable(_ id: String, by token: TokenRecord) async throws -> VaultRecord {
        let vault = try await core.vault(id)
        guard token.reaches(vault) else { throw VaultError(.notFound, "vault not found") }
        return vault
    }

    mutating func route(_ methods: [HTTPMethod], _ pattern: String, _ handler: @escaping Router.Handler) {
        router.add(methods, pattern, handler)
    }

    // MARK: - sys

    private mutating func addSysRoutes() {
        let core = self.core
        let guardian = self.unsealGuard
        let logger = self.logger
        let metrics = self.metrics
        let leadership = self.leadership

        route([.GET], "/v1/sys/seal-status") { _, _ in
            try await core.refreshIfUninitialized()
            return JSONResponse.encode(SealStatusResponse(await core.status()))
        }
        route([.GET], "/v1/sys/init") { _, _ in
            try await core.refreshIfUninitialized()
            return JSONResponse.encode(InitStatusResponse(initialized: await core.isInitialized))
        }
        route([.PUT, .POST], "/v1/sys/init") { request, _ in
            try Self.requireSealDoor(request, "sys/init")
            let initRequest = try InitRequest(body: RequestBody(request.body))
            let result = try await core.initialize(InitParameters(initRequest))
            return JSONResponse.encode(InitResponse(result))
        }
        route([.PUT, .POST], "/v1/sys/unseal") { request, _ in
            try await Self.unseal(request, core: core, guardian: guardian, logger: logger)
            return JSONResponse.encode(SealStatusResponse(await core.status()))
        }
        route([.PUT, .POST], "/v1/sys/seal") { request, _ in
            let token = try await core.authenticate(Self.token(of: request))
            guard token.isRoot else { throw VaultError(.permissionDenied, "permission denied: sealing needs the root token") }
            await leadership.stepDown(core: core, reason: "sys/seal", logger: logger)
            await core.seal()
            return JSONResponse.noContent()
        }
        route([.GET, .HEAD], "/v1/sys/health") { request, _ in
            // Storage that cannot be trusted fails health loudly: a load balancer or an operator
            // must not keep sending writes that would be lost.
            if let problem = core.storage.problem { throw VaultError(.storageUnavailable, problem) }
            try await core.refreshIfUninitialized()
            let status = await core.status()
            let standby = leadership.isEnabled && !status.sealed && !leadership.isActive
            var code: Int
            if !status.initialized {
                code = Int(request.query["uninitcode"] ?? "") ?? 501
            } else if status.sealed {
                code = Int(request.query["sealedcode"] ?? "") ?? 503
            } else if standby {
                // Vault's: 429 unless standbyok (load balancers send traffic to the active node).
                code = Self.flag(request.query["standbyok"]) ? 200 : Int(request.query["standbycode"] ?? "") ?? 429
            } else {
                code = Int(request.query["activecode"] ?? "") ?? 200
            }
            if !(100...599).contains(code) { code = 400 }
            return JSONResponse.encode(HealthResponse(
                initialized: status.initialized, sealed: status.sealed, standby: standby, performanceStandby: false,
                replicationPerformanceMode: "disabled", replicationDRMode: "disabled", serverTimeUTC: Int(Date().timeIntervalSince1970),
                version: status.version, clusterName: status.clusterName ?? "", clusterID: status.clusterID ?? ""
            ), status: HTTPResponseStatus(statusCode: code))
        }
        let unauthenticatedMetrics = self.unauthenticatedMetrics
        route([.GET], "/v1/sys/metrics") { request, _ in
            if !unauthenticatedMetrics {
                do { _ = try await core.authenticate(Self.token(of: request)) } catch let error as VaultError {
                    throw VaultError(error.code, "\(error.message) — sys/metrics needs a token unless vaultd.hcl has telemetry { unauthenticated_metrics_access = true }")
                }
            }
            let text = metrics.prometheus(unsealFailures: guardian.failuresTotal.load(ordering: .relaxed),
                                          rateLimited: guardian.rateLimitedTotal.load(ordering: .relaxed),
                                          sealed: await core.isSealed, initialized: await core.isInitialized, transitions: core.sealTransitions,
                                          leadership: leadership.isEnabled ? (leadership.isActive, leadership.isActive ? leadership.term?.epoch ?? 0 : 0) : nil)
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4"], body: Array(text.utf8))
        }
    }

    /// A step that takes key material (generate-root, rekey): through the seal door only,
    /// refused while this peer is rate limited, and a wrong key counted toward the same limit as
    /// unseal's. `step` gets the body's `key` and `nonce`; `completes` says whether its result
    /// finished the operation (a success that clears the peer's record).
    static func keyStep<T>(_ request: HTTPRequest, _ operation: String, guardian: UnsealGuard, logger: Logger,
                           completes: (T) -> Bool, _ step: (_ key: String, _ nonce: String) async throws -> T) async throws -> T {
        try requireSealDoor(request, operation)
        let peer = request.peer
        if let wait = guardian.retryAfter(peer) { throw VaultError(.rateLimited, "too many wrong keys from this client: retry in \(wait) s") }
        let body = try RequestBody(request.body, allowEmpty: false)
        do {
            let result = try await step(try body.requiredString("key"), try body.requiredString("nonce"))
            if completes(result) { guardian.recordSuccess(peer) }
            return result
        } catch let error as VaultError where error.code == .wrongKey {
            guardian.recordFailure(peer)
            logger.warning("\(operation): key refused", metadata: ["peer": "\(peer)"])
            throw error
        }
    }

    /// Seal operations (init, unseal, the Provide unseal routes) come through the Unix socket —
    /// the door whose peers the kernel names — or a TCP listener that opted in. Otherwise any
    /// client that can reach a TCP port could initialise a fresh vault before the agent (and
    /// receive its key and root token), or feed and reset a Shamir unseal in progress.
    static func requireSealDoor(_ request: HTTPRequest, _ operation: String) throws {
        guard request.sealOperationsAllowed else {
            throw VaultError(.permissionDenied, "\(operation) is served on the unix socket only; to allow it on this TCP listener set allow_seal_operations = true in its listener \"tcp\" block")
        }
    }

    /// The shared body of `sys/unseal` and the Provide `POST /api/v1/unseal`: rate limit,
    /// submit, count. Wrong keys are counted and never logged.
    static func unseal(_ request: HTTPRequest, core: VaultCore, guardian: UnsealGuard, logger: Logger) async throws {
        try requireSealDoor(request, request.path.hasPrefix("/api/") ? "unseal" : "sys/unseal")
        let peer = request.peer
        if let wait = guardian.retryAfter(peer) {
            throw VaultError(.rateLimited, "too many wrong unseal keys from this client\(peer.isTCP ? " or over TCP in all" : ""): retry in \(wait) s")
        }
        let key: String
        switch try UnsealRequest.intent(of: RequestBody(request.body, allowEmpty: false)) {
        case .reset:
            _ = await core.resetUnseal()
            return
        case .key(let text):
            key = text
        }
        do {
            // Key received → unsealed, inside vaultd (parse, validation hash, keyring), for
            // operators and bench/run.
            let started = ContinuousClock.now
            let wasSealed = await core.isSealed
            _ = try await core.submitUnsealKey(key)
            if await !core.isSealed {
                guardian.recordSuccess(peer)
                if wasSealed {
                    let elapsed = ContinuousClock.now - started
                    logger.info("unsealed", metadata: ["unseal_us": "\(elapsed.microseconds)"])
                }
            }
        } catch let error as VaultError where error.code == .wrongKey || error.code == .badRequest {
            guardian.recordFailure(peer)
            logger.warning("unseal key refused", metadata: ["peer": "\(request.peer)", "reason": "\(error.code)"])
            throw error
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
