import SealSources
import SealSourceCore

/// The decisions of one target's loop, as a pure step: `(state, observation) → (effects,
/// command)`. ``TargetLoop`` performs the I/O (seal-status, the sources, sleeping, watching)
/// and feeds what it saw back in; everything it decides — how fast to come back, when to give up
/// on the fast pace, what to report, when a sealed spell ends — is here, where it is unit-tested
/// without processes or clocks (`TargetMachineTests`).
public enum TargetMachine {
    /// The settings the decisions depend on.
    public struct Policy: Sendable {
        /// The target's address, for messages.
        public var name: String
        public var retry: RetryPolicy
        public var initEnabled: Bool
        /// The target's `cluster`, if it has one.
        public var cluster: String?
        /// While unreachable after having been seen, probe fast this long (a restart usually
        /// takes well under a second), then back off.
        public var fastRetryWindow: Duration = .seconds(10)
        /// An uninitialised vault the agent may not initialise is asked again this often, so an
        /// operator's `vaultctl operator init` is followed by an unseal within a second.
        public var initPollInterval: Duration = .seconds(1)
        /// A joining node, or one finishing its unseal, is asked again this often.
        public var joinPollInterval: Duration = .milliseconds(50)
        /// After this many "still finishing" answers in a row, back off instead.
        public var pendingLimit = 200

        public init(name: String, retry: RetryPolicy, initEnabled: Bool, cluster: String?) {
            self.name = name
            self.retry = retry
            self.initEnabled = initEnabled
            self.cluster = cluster
        }
    }

    /// What the loop remembers between steps.
    public struct State: Sendable, Equatable {
        /// Consecutive failures, for the backoff.
        public var failures = 0
        public var unreachableSince: ContinuousClock.Instant?
        /// When the current sealed (or unreachable) spell began; nil while unsealed.
        public var sealedSince: ContinuousClock.Instant?
        /// Watches in a row that ended at once (a server that drops idle connections).
        public var quickWatches = 0
        /// Unseal answers in a row "all shares taken, still sealed".
        public var pending = 0
        /// The source whose key the vault took and is finishing its unseal with.
        public var pendingSource: String?

        public init() {}
    }

    /// What the loop saw, as the result of the last command.
    public enum Observation: Sendable, Equatable {
        /// seal-status did not answer.
        case unreachable(String)
        case uninitialised(isVaultd: Bool)
        case sealed
        case unsealed
        /// The unseal pushed by this agent took: the vault says unsealed.
        case unsealSucceeded(source: String)
        /// Every share was taken and the vault is still finishing.
        case unsealPending(source: String)
        /// An unseal or init attempt failed.
        case failed(SealSourceError.Class, String)
        case initialised
        /// The cluster is initialised (or another node's init just ran): this node joins.
        case joining
        /// A watch on an unsealed vault ended; `quickly` when it ended within a second and not
        /// by its interval.
        case watchEnded(quickly: Bool)
    }

    /// Side effects to apply before the command.
    public enum Effect: Sendable, Equatable {
        /// Log once until the next success (needs a fix or retryable), and export the class.
        case report(SealSourceError.Class, String)
        /// Log once an expected state that passes by itself (joining).
        case progress(String)
        case setSealed(Bool)
        /// This agent's unseal is done: record its duration since the spell began, log it.
        case recordUnseal(source: String, since: ContinuousClock.Instant)
        /// The vault was unsealed by someone else.
        case unsealedElsewhere
    }

    /// What to do next; its result is the next observation.
    public enum Command: Sendable, Equatable {
        /// Wait `after`, then ask seal-status.
        case checkStatus(after: Duration)
        /// Probe the socket until it accepts a connection or `until` passes, then ask seal-status.
        case probeSocket(until: ContinuousClock.Instant)
        /// Fetch key material and push it.
        case unseal
        /// Autonomous init, through the agent's init flight.
        case initialise(isVaultd: Bool)
        /// Wait `after`, then hold a connection until it closes (or the watch interval passes).
        case watch(after: Duration)
    }

    /// One step. `delay` is the backoff for a failure count (``RetryPolicy/delay(_:)``: random,
    /// so tests pass the deterministic ``RetryPolicy/ceiling(_:)``).
    public static func step(
        _ state: inout State, _ observation: Observation, policy: Policy, now: ContinuousClock.Instant,
        delay: (Int) -> Duration
    ) -> (effects: [Effect], command: Command) {
        var effects = [Effect]()
        func backoff() -> Duration {
            defer { state.failures += 1 }
            return delay(state.failures)
        }
        func failure(_ errorClass: SealSourceError.Class, _ message: String) -> Command {
            let needsFix = errorClass != .retryable
            effects.append(.report(errorClass == .storageLost ? .storageLost : needsFix ? .needsFix : .retryable, message))
            // Needs a fix: retry slowly (retry.max), so a fixed file is picked up without a restart.
            if needsFix {
                state.failures += 1
                return .checkStatus(after: policy.retry.maximum)
            }
            return .checkStatus(after: backoff())
        }
        func sealedSpell() {
            if state.sealedSince == nil { state.sealedSince = now }
            effects.append(.setSealed(true))
        }

        switch observation {
        case .unreachable(let message):
            // The vault is (re)starting: probe fast for a while, then back off.
            state.quickWatches = 0
            if state.unreachableSince == nil {
                state.unreachableSince = now
                sealedSpell()
            }
            if now - state.unreachableSince! < policy.fastRetryWindow {
                return (effects, .probeSocket(until: state.unreachableSince! + policy.fastRetryWindow))
            }
            let command = failure(.retryable, message)   // before reading `effects`: it appends
            return (effects, command)

        case .uninitialised(let isVaultd):
            state.unreachableSince = nil
            sealedSpell()
            guard policy.initEnabled else {
                if let cluster = policy.cluster {
                    // A node of a cluster someone else initialises: it joins, then needs the
                    // shares. Ask again soon.
                    effects.append(.progress("\(policy.name) is not initialised yet: waiting for it to join cluster \"\(cluster)\""))
                    return (effects, .checkStatus(after: policy.joinPollInterval))
                }
                effects.append(.report(.needsFix, "\(policy.name) is not initialized and init.enabled is false: initialise it (vaultctl operator init) or set init { enabled = true }"))
                return (effects, .checkStatus(after: min(policy.retry.maximum, policy.initPollInterval)))
            }
            return (effects, .initialise(isVaultd: isVaultd))

        case .initialised:
            state.failures = 0
            return (effects, .checkStatus(after: .zero))

        case .joining:
            effects.append(.progress("\(policy.name) is not initialised yet: waiting for it to join cluster \"\(policy.cluster ?? "")\", whose material is stored"))
            return (effects, .checkStatus(after: policy.joinPollInterval))

        case .sealed:
            state.unreachableSince = nil
            state.quickWatches = 0
            sealedSpell()
            return (effects, .unseal)

        case .unsealSucceeded(let source):
            effects.append(.recordUnseal(source: source, since: state.sealedSince ?? now))
            state.sealedSince = nil
            state.failures = 0
            state.pending = 0
            state.pendingSource = nil
            return (effects, .checkStatus(after: .zero))

        case .unsealPending(let source):
            // Every share was taken and the vault is finishing (a raft follower joining or
            // coming up as a standby): look again soon, not after a backoff.
            state.pending += 1
            state.pendingSource = source
            let pause = state.pending < policy.pendingLimit ? policy.joinPollInterval : backoff()
            return (effects, .checkStatus(after: pause))

        case .failed(let errorClass, let message):
            let command = failure(errorClass, message)
            return (effects, command)

        case .unsealed:
            state.unreachableSince = nil
            state.pending = 0
            if let since = state.sealedSince {
                if let source = state.pendingSource {
                    effects.append(.recordUnseal(source: source, since: since))   // ours, finished
                } else {
                    effects.append(.unsealedElsewhere)
                }
                state.sealedSince = nil
            }
            state.pendingSource = nil
            effects.append(.setSealed(false))
            // A watch that ended at once while the vault stays unsealed: a server that drops
            // idle connections. Never spin: pace the re-checks, up to 5 s apart.
            return (effects, .watch(after: state.quickWatches > 0 ? .seconds(min(state.quickWatches, 5)) : .zero))

        case .watchEnded(let quickly):
            state.quickWatches = quickly ? state.quickWatches + 1 : 0
            return (effects, .checkStatus(after: .zero))
        }
    }
}
