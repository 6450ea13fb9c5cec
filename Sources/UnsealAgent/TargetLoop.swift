import LeanFoundation
import HTTPTransport
import Logging
import SealKit
import SealSources
import VaultClient

/// Keeps one vault unsealed: check, unseal (or initialise), then watch for the next restart.
/// One loop per `vault { address }` block.
actor TargetLoop {
    let target: AgentConfiguration.Target
    let address: VaultAddress
    let client: VaultClient
    let sources: [any SealSource]
    let initSettings: AgentConfiguration.InitSettings
    let retry: RetryPolicy
    let metrics: AgentMetrics
    let logger: Logger
    /// Called after each successful unseal.
    let onUnsealed: @Sendable () -> Void
    /// Runs OpenBao/Vault's init in a separate process (see ``ShareCustody``); `nil`: in process.
    let custodian: InitCustodian?

    /// Needs-a-fix messages already logged (each is logged once until something succeeds).
    private var reported = Set<String>()

    /// How often an unsealed vault is re-checked even if its connection stays open (a seal
    /// through the API closes nothing).
    static let watchInterval: Duration = .seconds(30)
    /// While the vault is unreachable after having been seen, retry this often for this long
    /// (a restart usually takes well under a second), then back off.
    static let fastRetryInterval: Duration = .milliseconds(1)
    static let fastRetryWindow: Duration = .seconds(10)
    /// An uninitialised vault the agent may not initialise is asked again this often (one
    /// seal-status request), so an operator's `vaultctl operator init` is followed by an unseal
    /// within a second rather than after retry.max.
    static let initPollInterval: Duration = .seconds(1)

    init(target: AgentConfiguration.Target, sources: [any SealSource], initSettings: AgentConfiguration.InitSettings,
         retry: RetryPolicy, metrics: AgentMetrics, logger: Logger, custodian: InitCustodian? = nil,
         onUnsealed: @escaping @Sendable () -> Void) throws {
        self.target = target
        self.address = try VaultAddress(target.address)
        self.client = VaultClient(address: address, timeout: .seconds(10), caBundlePath: target.caCert)
        self.sources = sources
        self.initSettings = initSettings
        self.retry = retry
        self.metrics = metrics
        self.logger = logger
        self.onUnsealed = onUnsealed
        self.custodian = custodian
    }

    var name: String { target.address }

    func run() async {
        var failures = 0
        var unreachableSince: ContinuousClock.Instant?
        var sealedSince: ContinuousClock.Instant?
        var quickWatches = 0
        while !Task.isCancelled {
            let status: [String: Any]
            do {
                var quick = client
                quick.timeout = .seconds(5)
                status = try await quick.sealStatus()
            } catch {
                // Unreachable: the vault is (re)starting. Retry fast for a while, then back off.
                quickWatches = 0
                let now = ContinuousClock.now
                if unreachableSince == nil {
                    unreachableSince = now
                    if sealedSince == nil { sealedSince = now }
                    metrics.setSealed(target: name, true)
                }
                if now - unreachableSince! < Self.fastRetryWindow {
                    // A Unix socket is probed with a bare connect (microseconds, no HTTP) until
                    // it accepts; only then is seal-status asked again.
                    while ConnectionWatch.unixSocketAcceptsConnections(address) == false,
                          ContinuousClock.now - unreachableSince! < Self.fastRetryWindow, !Task.isCancelled {
                        try? await Task.sleep(for: Self.fastRetryInterval)
                    }
                    if ConnectionWatch.unixSocketAcceptsConnections(address) == nil {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                } else {
                    report(.retryable, "cannot reach \(name): \(error)")
                    try? await Task.sleep(for: retry.delay(failures))
                    failures += 1
                }
                continue
            }
            unreachableSince = nil
            let initialized = status["initialized"] as? Bool ?? false
            let sealed = status["sealed"] as? Bool ?? true

            if !initialized {
                metrics.setSealed(target: name, true)
                if sealedSince == nil { sealedSince = .now }
                guard initSettings.enabled else {
                    report(.needsFix, "\(name) is not initialized and init.enabled is false: initialise it (vaultctl operator init) or set init { enabled = true }")
                    try? await Task.sleep(for: min(retry.maximum, Self.initPollInterval))
                    continue
                }
                do {
                    try await initialize(status)
                    failures = 0
                } catch let error as SealSourceError {
                    report(error.errorClass == .needsFix ? .needsFix : .retryable, error.message)
                    try? await Task.sleep(for: error.errorClass == .needsFix ? retry.maximum : retry.delay(failures))
                    failures += 1
                } catch {
                    report(.retryable, "initialising \(name) failed: \(error)")
                    try? await Task.sleep(for: retry.delay(failures))
                    failures += 1
                }
                continue
            }

            if sealed {
                quickWatches = 0
                metrics.setSealed(target: name, true)
                let started = sealedSince ?? .now
                if sealedSince == nil { sealedSince = started }
                do {
                    let source = try await unseal(status)
                    let elapsed = ContinuousClock.now - started
                    metrics.unsealDuration(target: name, seconds: elapsed.seconds)
                    metrics.sealedFor(target: name, seconds: elapsed.seconds)
                    metrics.setSealed(target: name, false)
                    metrics.lastError(target: name, "none")
                    logger.info("unsealed", metadata: ["target": "\(name)", "source": "\(source)", "sealed_ms": "\(Int(elapsed.seconds * 1000))"])
                    sealedSince = nil
                    failures = 0
                    reported.removeAll()
                    onUnsealed()
                } catch let error as SealSourceError {
                    let needsFix = error.errorClass != .retryable
                    report(needsFix ? .needsFix : .retryable, error.message)
                    // Needs a fix: retry slowly (retry.max), so a fixed file is picked up without a restart.
                    try? await Task.sleep(for: needsFix ? retry.maximum : retry.delay(failures))
                    failures += 1
                } catch {
                    report(.retryable, "unsealing \(name) failed: \(error)")
                    try? await Task.sleep(for: retry.delay(failures))
                    failures += 1
                }
                continue
            }

            // Unsealed: hold a connection and wake when it closes.
            metrics.setSealed(target: name, false)
            if sealedSince != nil {
                // It was sealed by someone else meanwhile, or is now unsealed without us.
                sealedSince = nil
                onUnsealed()
            }
            if quickWatches > 0 {
                // The last watch ended at once and the vault is still unsealed: a server that
                // drops idle connections (or a socket we cannot hold). Never spin: pace the
                // re-checks, up to 5 s apart.
                try? await Task.sleep(for: .seconds(min(quickWatches, 5)))
            }
            let watchStarted = ContinuousClock.now
            let outcome = await ConnectionWatch.waitForClose(address, interval: Self.watchInterval)
            if outcome != .intervalElapsed && ContinuousClock.now - watchStarted < .seconds(1) {
                quickWatches += 1
            } else {
                quickWatches = 0
            }
        }
    }

    /// Logs a message once (per class and text) until the next success, and exports the class.
    private func report(_ errorClass: SealSourceError.Class, _ message: String) {
        metrics.lastError(target: name, errorClass == .retryable ? "retryable" : "needs_fix")
        let key = "\(errorClass)|\(message)"
        guard reported.insert(key).inserted else { return }
        if errorClass == .retryable {
            logger.warning("\(message)", metadata: ["target": "\(name)", "class": "retryable"])
        } else {
            logger.error("\(message)", metadata: ["target": "\(name)", "class": "needs_fix"])
        }
    }

    // MARK: - Unseal

    /// Tries the sources in priority order; returns the name of the one that unsealed.
    private func unseal(_ status: [String: Any]) async throws -> String {
        var errors = [SealSourceError]()
        for source in sources {
            let fetched = ContinuousClock.now
            let material: KeyMaterial
            do {
                material = try await source.fetch()
                metrics.sourceLatency(source: source.name, seconds: (ContinuousClock.now - fetched).seconds)
            } catch {
                metrics.attempt(target: name, source: source.name, outcome: error.errorClass == .retryable ? "source_unavailable" : "source_error")
                errors.append(error)
                continue
            }
            do {
                if case .shares = material, (status["progress"] as? Int ?? 0) > 0 {
                    _ = try await client.resetUnseal()
                }
                var answer: [String: Any] = [:]
                for key in material.unsealKeys {
                    answer = try await client.unseal(key: key)
                    if answer["sealed"] as? Bool == false { break }
                }
                if answer["sealed"] as? Bool == false {
                    metrics.attempt(target: name, source: source.name, outcome: "success")
                    return source.name
                }
                metrics.attempt(target: name, source: source.name, outcome: "insufficient_shares")
                errors.append(SealSourceError(.needsFix, "the \(material.unsealKeys.count) share(s) from \(source.name) do not reach \(name)'s threshold of \(answer["t"] as? Int ?? 0)"))
            } catch let error as VaultClient.APIError where error.status == 400 {
                metrics.attempt(target: name, source: source.name, outcome: "wrong_key")
                errors.append(SealSourceError(.needsFix, "\(name) refused the key from \(source.name): \(error) — fix the key in \(source.name)", setting: source.name))
            } catch let error as VaultClient.APIError where error.status == 429 {
                // vaultd answers 429 only after repeated wrong keys from this peer: the cause is
                // still the key, so this stays a needs-a-fix error (and is retried at retry.max).
                metrics.attempt(target: name, source: source.name, outcome: "rate_limited")
                errors.append(SealSourceError(.needsFix, "\(name) is rate-limiting unseal attempts after wrong keys: \(error) — fix the key in \(source.name)", setting: source.name))
            } catch {
                metrics.attempt(target: name, source: source.name, outcome: "error")
                errors.append(SealSourceError(.retryable, "pushing the key to \(name) failed: \(error)"))
            }
        }
        if let retryable = errors.first(where: { $0.errorClass == .retryable }) { throw retryable }
        throw errors.first ?? SealSourceError(.needsFix, "no seal source is configured")
    }

    // MARK: - Init

    /// Autonomous init (DESIGN §7): nothing may be lost.
    ///
    /// vaultd: the key is generated and *stored first*, then init is called with `seal_key`;
    /// a stored key found at this point (an earlier run crashed between the two) is reused.
    /// OpenBao/Vault generate their own shares: they are stored the moment the response
    /// arrives, retrying the store until it succeeds.
    private func initialize(_ status: [String: Any]) async throws {
        guard let store = sources.first(where: { $0 is any StoringSealSource }) as? any StoringSealSource else {
            throw SealSourceError(.needsFix, "autonomous init needs a seal source that can store (seal \"file\")")
        }
        let isVaultd = status["implementation"] as? String == "vaultd"
        var existing: KeyMaterial?
        do {
            existing = try await store.fetch()
        } catch {
            guard error.errorClass == .notFound else { throw error }
            existing = nil
        }

        var body: [String: Any] = ["secret_shares": initSettings.secretShares, "secret_threshold": initSettings.secretThreshold]
        if initSettings.recoveryShares > 0 {
            body["recovery_shares"] = initSettings.recoveryShares
            body["recovery_threshold"] = initSettings.recoveryThreshold
        }

        if isVaultd {
            let keyText: String
            switch existing {
            case .key(let key)?:
                keyText = key
                logger.info("initialising with the key already stored in \(store.name) (an earlier init did not finish)", metadata: ["target": "\(name)"])
            case .shares?:
                throw SealSourceError(.needsFix, "\(store.name) holds shares but \(name) is uninitialized: move the file away to let the agent initialise it")
            case nil:
                let (phrase, hash) = try Self.newKey()
                keyText = phrase
                try await store.store(.key(keyText))
                logger.info("generated a seal key and stored it", metadata: ["target": "\(name)", "source": "\(store.name)", "validation_hash": "\(hash)"])
            }
            body["seal_key"] = keyText
            let result = try await client.initialize(body)
            metrics.initialized(target: name, outcome: "success")
            await ShareCustody.keepRootToken(result["root_token"] as? String, at: initSettings.rootTokenPath, retry: retry, logger: logger)
            logger.info("initialized", metadata: ["target": "\(name)", "kind": "vaultd"])
        } else {
            if existing != nil {
                throw SealSourceError(.needsFix, "\(store.name) already holds key material but \(name) is uninitialized: it belongs to another vault; move it away to let the agent initialise this one")
            }
            let request = Data(try AnyJSON.encode(body))
            let shares: Int
            if let custodian {
                shares = try await custodian.initialize(target: name, body: request)
            } else {
                shares = try await ShareCustody(client: client, store: store, rootTokenPath: initSettings.rootTokenPath,
                                                retry: retry, logger: logger, target: name).initialize(request)
            }
            metrics.initialized(target: name, outcome: "success")
            logger.info("initialized", metadata: ["target": "\(name)", "kind": "openbao/vault", "shares": "\(shares)"])
        }
    }

    /// A fresh seal key's phrase and validation hash.
    private static func newKey() throws -> (String, String) {
        let key = try SealKey.generate()
        return (key.phrase(), key.validationHash().description)
    }
}

extension Duration {
    /// The duration in seconds, for metrics.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    /// Whole milliseconds, for logs and human-facing output.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
