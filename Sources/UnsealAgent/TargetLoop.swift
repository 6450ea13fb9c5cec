import DurableFile
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
    /// Shared by every target of the agent: one init at a time.
    let initFlight: InitFlight
    /// The other nodes of this target's cluster (empty outside a cluster).
    let peers: [VaultClient]

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
    /// A cluster node that is joining (uninitialised while its cluster's material is stored), or
    /// that has all its shares and is still finishing its unseal (a raft follower completing
    /// its join), is asked again this often: it is about to need, or have, the material, and
    /// a follower restart should be unsealed as fast as a single node.
    static let joinPollInterval: Duration = .milliseconds(50)
    /// After this many consecutive "still finishing" answers the loop falls back to backoff
    /// (a node that never completes must not be polled every 50 ms for ever).
    static let pendingLimit = 200

    init(target: AgentConfiguration.Target, sources: [any SealSource], initSettings: AgentConfiguration.InitSettings,
         retry: RetryPolicy, metrics: AgentMetrics, logger: Logger, custodian: InitCustodian? = nil,
         initFlight: InitFlight = InitFlight(), peers: [AgentConfiguration.Target] = [],
         onUnsealed: @escaping @Sendable () -> Void) throws {
        self.initFlight = initFlight
        self.peers = try peers.map { VaultClient(address: try VaultAddress($0.address), timeout: .seconds(5), caBundlePath: $0.caCert) }
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
        /// Consecutive answers "all shares taken, still sealed" (see ``UnsealPending``).
        var pending = 0
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
                    if target.cluster != nil {
                        // A node of a cluster someone else initialises: it joins, then needs
                        // the shares. Ask again soon.
                        reportProgress("\(name) is not initialised yet: waiting for it to join cluster \"\(target.cluster!)\"")
                        try? await Task.sleep(for: Self.joinPollInterval)
                    } else {
                        report(.needsFix, "\(name) is not initialized and init.enabled is false: initialise it (vaultctl operator init) or set init { enabled = true }")
                        try? await Task.sleep(for: min(retry.maximum, Self.initPollInterval))
                    }
                    continue
                }
                do {
                    let isVaultd = status["implementation"] as? String == "vaultd"
                    switch try await initFlight.run({ try await self.initialize(isVaultd: isVaultd) }) {
                    case .initialised?:
                        failures = 0
                    case .joining?, nil:
                        // The cluster is initialised (or another node's init just ran): this
                        // node joins it and is unsealed once it reports initialised.
                        reportProgress("\(name) is not initialised yet: waiting for it to join cluster \"\(target.cluster ?? "")\", whose material is stored")
                        try? await Task.sleep(for: Self.joinPollInterval)
                    }
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
                    unsealed(by: source, since: started)
                    sealedSince = nil
                    failures = 0
                    pending = 0
                } catch let pendingUnseal as UnsealPending {
                    // Every share was taken and the vault is finishing (a raft follower joining
                    // or coming up as a standby): look again soon, not after a backoff.
                    pending += 1
                    pendingSource = pendingUnseal.source
                    try? await Task.sleep(for: pending < Self.pendingLimit ? Self.joinPollInterval : retry.delay(failures))
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
            pending = 0
            if let started = sealedSince {
                if let source = pendingSource {
                    // The unseal this agent pushed has finished.
                    unsealed(by: source, since: started)
                } else {
                    // It was unsealed without us (an operator, another agent).
                    metrics.setSealed(target: name, false)
                    onUnsealed()
                }
                sealedSince = nil
            }
            pendingSource = nil
            metrics.setSealed(target: name, false)
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

    /// The source whose key a vault took and is still finishing its unseal with.
    private var pendingSource: String?

    /// Records an unseal that this agent made: metrics, the log line, readiness.
    private func unsealed(by source: String, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        metrics.unsealDuration(target: name, seconds: elapsed.seconds)
        metrics.setSealed(target: name, false)
        metrics.lastError(target: name, "none")
        logger.info("unsealed", metadata: ["target": "\(name)", "source": "\(source)", "sealed_ms": "\(Int(elapsed.seconds * 1000))"])
        reported.removeAll()
        pendingSource = nil
        onUnsealed()
    }

    /// Logs a state that is expected and passes by itself (joining), once until the next success.
    private func reportProgress(_ message: String) {
        guard reported.insert("progress|\(message)").inserted else { return }
        logger.info("\(message)", metadata: ["target": "\(name)"])
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
                if let threshold = answer["t"] as? Int, threshold > 0, material.unsealKeys.count >= threshold {
                    // The vault took at least its threshold of shares and has not finished
                    // unsealing: an OpenBao/Vault raft follower completes its join (and a standby
                    // comes up) after it answers — still "sealed", progress where it stood. Not
                    // a wrong key (that is a 400) and not too few shares: look again soon.
                    metrics.attempt(target: name, source: source.name, outcome: "pending")
                    throw UnsealPending(source: source.name)
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

    /// Autonomous init, for this target, inside the agent's ``InitFlight``: nothing may be lost.
    ///
    /// vaultd: the key is generated and *stored first* (create-if-absent), then init is called
    /// with `seal_key`; a key already stored (another node's, or an earlier run's that crashed
    /// between the two steps) is used instead. OpenBao/Vault generate their own shares: the init
    /// custodian decides and sends `sys/init` under the init lock and stores the shares the
    /// moment the answer arrives (``ShareCustody``). Which of these happens, if any, is
    /// ``InitDecision``'s.
    private func initialize(isVaultd: Bool) async throws -> InitFlight.Step {
        guard let store = sources.first(where: { $0 is any StoringSealSource }) as? any StoringSealSource else {
            throw SealSourceError(.needsFix, "autonomous init needs a seal source that can store (seal \"file\")")
        }
        var body: [String: Any] = ["secret_shares": initSettings.secretShares, "secret_threshold": initSettings.secretThreshold]
        if initSettings.recoveryShares > 0 {
            body["recovery_shares"] = initSettings.recoveryShares
            body["recovery_threshold"] = initSettings.recoveryThreshold
        }
        guard isVaultd else {
            // Material already stored: a joining node, decided here without starting a process.
            if try await ShareCustody.stored(in: store) != nil, target.cluster != nil { return .joining }
            let request = Data(try AnyJSON.encode(body))
            let outcome: ShareCustody.Outcome
            if let custodian {
                outcome = try await custodian.initialize(target: name, body: request)
            } else {
                outcome = try await ShareCustody(client: client, store: store, rootTokenPath: initSettings.rootTokenPath,
                                                 retry: retry, logger: logger, target: name, peers: peers).initialize(request)
            }
            guard case .initialised(let shares) = outcome else { return .joining }
            metrics.initialized(target: name, outcome: "success")
            logger.info("initialized", metadata: ["target": "\(name)", "kind": "openbao/vault", "shares": "\(shares)"])
            return .initialised
        }

        // vaultd, in this process, under the init lock (a restarted agent's decision waits).
        let lock = try await ShareCustody.initLock(for: store)
        defer { withExtendedLifetime(lock) {} }
        let facts = InitDecision.Facts(target: name, isVaultd: true, inCluster: target.cluster != nil, store: store.name,
                                       stored: try await ShareCustody.stored(in: store), initialisedPeers: [])
        var decision = InitDecision.decide(facts)
        if decision == .initialiseWithNewMaterial {
            // Only now ask the peers: a vaultd peer initialised while nothing is stored has a key
            // the agent cannot see; a second key would not help it.
            var withPeers = facts
            withPeers.initialisedPeers = await ShareCustody.initialised(peers)
            decision = InitDecision.decide(withPeers)
        }
        let keyText: String
        switch decision {
        case .initialiseWithStoredKey(let key):
            keyText = key
            logger.info("initialising with the key already stored in \(store.name)", metadata: ["target": "\(name)"])
        case .initialiseWithNewMaterial:
            let (phrase, hash) = try Self.newKey()
            switch try await store.storeIfAbsent(.key(phrase)) {
            case .stored:
                keyText = phrase
                logger.info("generated a seal key and stored it", metadata: ["target": "\(name)", "source": "\(store.name)", "validation_hash": "\(hash)"])
            case .alreadyHeld(.key(let held)):
                keyText = held
                logger.info("another writer stored a key first; initialising with that one", metadata: ["target": "\(name)", "source": "\(store.name)"])
            case .alreadyHeld(.shares):
                throw SealSourceError(.needsFix, "\(store.name) was filled with shares meanwhile, but \(name) is an uninitialised vaultd: move the file away to let the agent initialise it")
            }
        case .waitToJoin:
            return .joining
        case .refuse(let message):
            throw SealSourceError(.needsFix, message)
        }
        body["seal_key"] = keyText
        let result = try await client.initialize(body)
        metrics.initialized(target: name, outcome: "success")
        await ShareCustody.keepRootToken(result["root_token"] as? String, at: initSettings.rootTokenPath, retry: retry, logger: logger)
        logger.info("initialized", metadata: ["target": "\(name)", "kind": "vaultd"])
        return .initialised
    }

    /// A fresh seal key's phrase and validation hash.
    private static func newKey() throws -> (String, String) {
        let key = try SealKey.generate()
        return (key.phrase(), key.validationHash().description)
    }
}

/// All shares were taken and the vault is still sealed with its progress back at 0: it is
/// finishing the unseal by itself (a raft follower joining). Retried at the join pace.
struct UnsealPending: Error {
    let source: String
}

extension Duration {
    /// The duration in seconds, for metrics.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    /// Whole milliseconds, for logs and human-facing output.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
