import DurableFile
import LeanFoundation
import HTTPTransport
import Logging
import SealKit
import SealSourceCore
import SealSources
import VaultClient
import VaultWire

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
    /// Where sealed/unsealed/init/needs-a-fix events go (`notify` blocks); never waited on.
    let notifier: Notifier?
    /// The last seal state seen, so that `sealed` is notified once per spell.
    private var lastSealed: Bool?

    /// Needs-a-fix messages already logged (each is logged once until something succeeds).
    private var reported = Set<String>()

    /// How often an unsealed vault is re-checked even if its connection stays open (a seal
    /// through the API closes nothing).
    /// 10 s: with the 5 s seal-status deadline, /readyz turns 503 within 15 s of a vault that
    /// stops answering while holding its connections open (SIGSTOP, a hung process).
    static let watchInterval: Duration = .seconds(10)
    /// How often the socket of an unreachable vault is probed during the fast window
    /// (``TargetMachine/Policy/fastRetryWindow``; the other paces are the policy's too).
    static let fastRetryInterval: Duration = .milliseconds(1)

    init(target: AgentConfiguration.Target, sources: [any SealSource], initSettings: AgentConfiguration.InitSettings,
         retry: RetryPolicy, metrics: AgentMetrics, logger: Logger, custodian: InitCustodian? = nil,
         initFlight: InitFlight = InitFlight(), peers: [AgentConfiguration.Target] = [], notifier: Notifier? = nil,
         onUnsealed: @escaping @Sendable () -> Void) throws {
        self.initFlight = initFlight
        self.notifier = notifier
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

    nonisolated var name: String { target.address }

    /// The decisions' settings (``TargetMachine``).
    var policy: TargetMachine.Policy {
        TargetMachine.Policy(name: name, retry: retry, initEnabled: initSettings.enabled, cluster: target.cluster)
    }

    /// Runs the target's ``TargetMachine``: performs each command and feeds back what it saw.
    func run() async {
        let policy = self.policy
        var state = TargetMachine.State()
        var observation = await checkStatus()
        while !Task.isCancelled {
            let (effects, command) = TargetMachine.step(&state, observation, policy: policy, now: .now, delay: retry.delay)
            for effect in effects { apply(effect) }
            observation = await perform(command)
        }
    }

    // MARK: - The I/O behind the machine

    private func perform(_ command: TargetMachine.Command) async -> TargetMachine.Observation {
        switch command {
        case .checkStatus(let after):
            if after > .zero { try? await Task.sleep(for: after) }
            return await checkStatus()
        case .probeSocket(let until):
            // A Unix socket is probed with a bare connect (microseconds, no HTTP) until it
            // accepts; only then is seal-status asked again.
            while ConnectionWatch.unixSocketAcceptsConnections(address) == false, ContinuousClock.now < until, !Task.isCancelled {
                try? await Task.sleep(for: Self.fastRetryInterval)
            }
            if ConnectionWatch.unixSocketAcceptsConnections(address) == nil {
                try? await Task.sleep(for: .milliseconds(5))
            }
            return await checkStatus()
        case .unseal:
            guard let status = lastStatus else { return await checkStatus() }
            do {
                return .unsealSucceeded(source: try await unseal(status))
            } catch let pending as UnsealPending {
                return .unsealPending(source: pending.source)
            } catch let error as SealSourceError {
                return .failed(error.errorClass, error.message)
            } catch {
                return .failed(.retryable, "unsealing \(name) failed: \(error)")
            }
        case .initialise(let isVaultd):
            do {
                switch try await initFlight.run({ try await self.initialize(isVaultd: isVaultd) }) {
                case .initialised?: return .initialised
                case .joining?, nil: return .joining
                }
            } catch let error as SealSourceError {
                return .failed(error.errorClass, error.message)
            } catch {
                return .failed(.retryable, "initialising \(name) failed: \(error)")
            }
        case .watch(let after):
            if after > .zero { try? await Task.sleep(for: after) }
            let started = ContinuousClock.now
            let outcome = await ConnectionWatch.waitForClose(address, interval: Self.watchInterval)
            return .watchEnded(quickly: outcome != .intervalElapsed && ContinuousClock.now - started < .seconds(1))
        }
    }

    /// The last seal-status answer (the unseal needs its progress).
    private var lastStatus: SealStatusResponse?

    private func checkStatus() async -> TargetMachine.Observation {
        var quick = client
        quick.timeout = .seconds(5)
        let status: SealStatusResponse
        do { status = try await quick.sealStatus() } catch {
            return .unreachable("cannot reach \(name): \(error)")
        }
        lastStatus = status
        guard status.initialized else { return .uninitialised(isVaultd: status.isVaultd) }
        return status.sealed ? .sealed : .unsealed
    }

    private func apply(_ effect: TargetMachine.Effect) {
        switch effect {
        case .report(let errorClass, let message): report(errorClass, message)
        case .progress(let message): reportProgress(message)
        case .setSealed(let sealed):
            metrics.setSealed(target: name, sealed)
            if sealed && lastSealed != true { notifier?.post(AgentNotification(event: .sealed, target: name)) }
            lastSealed = sealed
        case .recordUnseal(let source, let since): unsealed(by: source, since: since)
        case .unsealedElsewhere: onUnsealed()
        }
    }

    /// Records an unseal that this agent made: metrics, the log line, readiness.
    private func unsealed(by source: String, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        metrics.unsealDuration(target: name, seconds: elapsed.seconds)
        metrics.setSealed(target: name, false)
        metrics.lastError(target: name, "none")
        logger.info("unsealed", metadata: ["target": "\(name)", "source": "\(source)", "sealed_ms": "\(Int(elapsed.seconds * 1000))"])
        lastSealed = false
        notifier?.post(AgentNotification(event: .unsealed, target: name, source: source))
        reported.removeAll()
        onUnsealed()
    }

    /// Logs a state that is expected and passes by itself (joining), once until the next success.
    private func reportProgress(_ message: String) {
        guard reported.insert("progress|\(message)").inserted else { return }
        logger.info("\(message)", metadata: ["target": "\(name)"])
    }

    /// Logs a message once (per class and text) until the next success, and exports the class.
    private func report(_ errorClass: SealSourceError.Class, _ message: String) {
        let label = switch errorClass {
        case .retryable: "retryable"
        case .storageLost: "storage_lost"
        default: "needs_fix"
        }
        metrics.lastError(target: name, label)
        let key = "\(errorClass)|\(message)"
        guard reported.insert(key).inserted else { return }
        switch errorClass {
        case .needsFix: notifier?.post(AgentNotification(event: .needsFix, target: name, message: message))
        case .storageLost: notifier?.post(AgentNotification(event: .storageLost, target: name, message: message))
        default: break
        }
        if errorClass == .retryable {
            logger.warning("\(message)", metadata: ["target": "\(name)", "class": "retryable"])
        } else {
            logger.error("\(message)", metadata: ["target": "\(name)", "class": "\(label)"])
        }
    }

    // MARK: - Unseal

    /// Tries the sources in priority order — each followed by the key a rekey left pending in
    /// it, if any (a vault rekeyed before the rekey finished holds that one) — and returns the
    /// name of the one that unsealed.
    private func unseal(_ status: SealStatusResponse) async throws -> String {
        var errors = [SealSourceError]()
        let candidates = sources.flatMap { source -> [any SealSource] in
            guard let storing = source as? any StoringSealSource, storing.hasPending, let pending = storing.pending() else { return [source] }
            return [source, PendingSealSource(pending)]
        }
        for source in candidates {
            let fetched = ContinuousClock.now
            let material: SealMaterial
            do {
                material = try await source.fetch()
                metrics.sourceLatency(source: source.name, seconds: (ContinuousClock.now - fetched).seconds)
                metrics.sourceHealth(source: source.name, up: true)
            } catch {
                metrics.sourceHealth(source: source.name, up: false)
                metrics.attempt(target: name, source: source.name, outcome: error.errorClass == .retryable ? "source_unavailable" : "source_error")
                errors.append(error)
                // A broken fallback must be seen before it is needed: say so once (until the
                // next success) even when a later source unseals.
                if source.name != candidates.last?.name, reported.insert("fallback|\(source.name)|\(error.message)").inserted {
                    logger.warning("\(error.message); trying the next seal source", metadata: ["target": "\(name)", "source": "\(source.name)", "class": "\(error.errorClass)"])
                }
                continue
            }
            do {
                if case .shares = material, status.progress > 0 {
                    _ = try await client.resetUnseal()
                }
                var answer: SealStatusResponse?
                for key in material.unsealKeys {
                    answer = try await client.unseal(key: key)
                    if answer?.sealed == false { break }
                }
                if answer?.sealed == false {
                    metrics.attempt(target: name, source: source.name, outcome: "success")
                    return source.name
                }
                if let threshold = answer?.threshold, threshold > 0, material.unsealKeys.count >= threshold {
                    // The vault took at least its threshold of shares and has not finished
                    // unsealing: an OpenBao/Vault raft follower completes its join (and a standby
                    // comes up) after it answers — still "sealed", progress where it stood. Not
                    // a wrong key (that is a 400) and not too few shares: look again soon.
                    metrics.attempt(target: name, source: source.name, outcome: "pending")
                    throw UnsealPending(source: source.name)
                }
                metrics.attempt(target: name, source: source.name, outcome: "insufficient_shares")
                errors.append(SealSourceError(.needsFix, "the \(material.unsealKeys.count) share(s) from \(source.name) do not reach \(name)'s threshold of \(answer?.threshold ?? 0)"))
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
        // With several storing seals, the material goes into every one before the vault uses it.
        guard let store = ReplicatedSealStore.forInit(sources) else {
            throw SealSourceError(.needsFix, "autonomous init needs a seal source that can store (seal \"file\")")
        }
        var request = InitRequest(secretShares: initSettings.secretShares, secretThreshold: initSettings.secretThreshold)
        if initSettings.recoveryShares > 0 {
            request.recoveryShares = initSettings.recoveryShares
            request.recoveryThreshold = initSettings.recoveryThreshold
        }
        guard isVaultd else {
            // Material already stored: a joining node, decided here without starting a process.
            if try await ShareCustody.stored(in: store) != nil, target.cluster != nil { return .joining }
            let outcome: ShareCustody.Outcome
            if let custodian {
                outcome = try await custodian.initialize(target: name, request: request)
            } else {
                outcome = try await ShareCustody(client: client, store: store, rootTokenPath: initSettings.rootTokenPath,
                                                 retry: retry, logger: logger, target: name, peers: peers).initialize(request)
            }
            guard case .initialised(let shares) = outcome else { return .joining }
            metrics.initialized(target: name, outcome: "success")
            logger.info("initialized", metadata: ["target": "\(name)", "kind": "openbao/vault", "shares": "\(shares)"])
            notifier?.post(AgentNotification(event: .`init`, target: name))
            return .initialised
        }

        // vaultd, in this process, under the init lock (a restarted agent's decision waits).
        let lock = try await ShareCustody.initLock(for: store)
        defer { withExtendedLifetime(lock) {} }
        let facts = InitDecision.Facts(target: name, isVaultd: true, inCluster: target.cluster != nil, store: store.name,
                                       stored: try await ShareCustody.stored(in: store), initialisedPeers: [],
                                       initialisedBefore: ShareCustody.initialisedBefore(name, store: store))
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
            // Several stores: the key goes into any that lacks it before the vault uses it.
            if store is ReplicatedSealStore { _ = try await store.storeIfAbsent(.key(key)) }
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
        case .storageLost(let message):
            throw SealSourceError(.storageLost, message)
        }
        request.sealKey = keyText
        let result = try await client.initialize(request)
        ShareCustody.recordInitialised(name, store: store, logger: logger)
        metrics.initialized(target: name, outcome: "success")
        await ShareCustody.keepRootToken(result.rootToken, at: initSettings.rootTokenPath, retry: retry, logger: logger)
        logger.info("initialized", metadata: ["target": "\(name)", "kind": "vaultd"])
        notifier?.post(AgentNotification(event: .`init`, target: name))
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

/// A rekey's pending key, named as such in logs and metrics.
struct PendingSealSource: SealSource {
    let inner: any StoringSealSource
    init(_ inner: any StoringSealSource) { self.inner = inner }
    var kind: String { inner.kind }
    var name: String { inner.name + " (pending rekey)" }
    var priority: Int { inner.priority }
    func fetch() async throws(SealSourceError) -> SealMaterial { try await inner.fetch() }
}
