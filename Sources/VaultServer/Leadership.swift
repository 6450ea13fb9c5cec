import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VaultCore

/// This node's place on shared storage, read by every request: the active node serves; a
/// standby forwards. With SQLite (no ``SharedStorage``) it is always "active" and disabled.
public final class Leadership: Sendable {
    enum Role: Sendable {
        case active(LeadershipTerm, since: Date, until: ContinuousClock.Instant)
        case standby
    }

    let storage: (any SharedStorage)?
    /// This node's `api_addr`.
    let address: String
    private let role = Mutex<Role>(.standby)
    private let knownLeader = Mutex<LeaderRecord?>(nil)
    /// Until when this node does not try to lead again (after `sys/step-down`).
    private let pausedUntil = Mutex<ContinuousClock.Instant?>(nil)

    /// `storage` nil: one node, always active (SQLite).
    public init(storage: (any SharedStorage)?, address: String) {
        self.storage = storage
        self.address = address
    }

    var isEnabled: Bool { storage != nil }

    /// Whether this node may serve now. Its own clock bounds it: the lease was renewed at an
    /// instant no later than the database's, so `until` passes before the database lets another
    /// node take over — a node paused past its lease (SIGSTOP, a long GC-like stall, a cut-off
    /// network) stops serving on its first instruction after waking, before it hears anything.
    var isActive: Bool {
        guard isEnabled else { return true }
        if case .active(_, _, let until) = role.withLock({ $0 }) { return ContinuousClock.now < until }
        return false
    }

    var activeSince: Date? {
        if case .active(_, let since, _) = role.withLock({ $0 }), isActive { return since }
        return nil
    }

    var term: LeadershipTerm? {
        if case .active(let term, _, _) = role.withLock({ $0 }) { return term }
        return nil
    }

    /// The active node as last read from storage (nil: none known).
    var leader: LeaderRecord? { knownLeader.withLock { $0 } }

    func becameActive(_ term: LeadershipTerm, until: ContinuousClock.Instant) {
        role.withLock { $0 = .active(term, since: Date(), until: until) }
    }

    func extend(until: ContinuousClock.Instant) {
        role.withLock { if case .active(let term, let since, _) = $0 { $0 = .active(term, since: since, until: until) } }
    }

    func becameStandby() {
        role.withLock { $0 = .standby }
    }

    func learn(_ leader: LeaderRecord?) { knownLeader.withLock { $0 = leader } }

    func pause(for duration: Duration) { pausedUntil.withLock { $0 = ContinuousClock.now + duration } }

    /// Gives the lease up on purpose (`sys/step-down`, seal, shutdown): serving stops first,
    /// then writes, then the row says the lease ran out, so a standby takes it at its next try.
    func stepDown(core: VaultCore, reason: String, logger: Logger) async {
        guard let storage, let term else { return }
        becameStandby()
        await storage.releaseLeadership(term)
        await core.dropCaches()
        logger.info("stepped down", metadata: ["term": "\(term.epoch)", "reason": "\(reason)"])
    }

    var isPaused: Bool {
        guard let until = pausedUntil.withLock({ $0 }) else { return false }
        return ContinuousClock.now < until
    }
}

/// Keeps ``Leadership`` true: an unsealed standby tries to take the lease every
/// ``LeadershipService/attemptInterval``; the active node renews it every third of its
/// duration and steps down when a renewal fails or comes too late. At graceful shutdown it gives
/// the lease up — after the listeners have drained, so requests in flight still write — and a
/// standby takes over at its next attempt.
struct LeadershipService: Service {
    let leadership: Leadership
    let storage: any SharedStorage
    let core: VaultCore
    let logger: Logger
    static let attemptInterval = Duration.milliseconds(100)

    func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await step()
            }
        } onGracefulShutdown: {}
        await leadership.stepDown(core: core, reason: "shutting down", logger: logger)
    }

    /// Sleeps, but not past the start of a graceful shutdown.
    private func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    private func step() async {
        if let term = leadership.term {
            await holdOrLose(term)
        } else {
            await tryToLead()
        }
    }

    private func tryToLead() async {
        if await core.isSealed || leadership.isPaused {
            await learnLeader()
            await pause(Self.attemptInterval)
            return
        }
        let started = ContinuousClock.now
        do {
            if let term = try await storage.acquireLeadership(advertising: leadership.address) {
                // Caches go before the first request is served in the new term.
                try await core.startTerm()
                leadership.becameActive(term, until: started + storage.leaseDuration)
                await learnLeader()
                logger.info("became the active node", metadata: ["term": "\(term.epoch)", "api_addr": "\(leadership.address)"])
                return
            }
        } catch {
            storage.forgetLeadership()
            logger.debug("cannot take leadership now", metadata: ["error": "\(error)"])
        }
        await learnLeader()
        await pause(Self.attemptInterval)
    }

    /// Renews every third of the lease; on the first failure retries at once, until the
    /// local deadline has passed.
    private func holdOrLose(_ term: LeadershipTerm) async {
        await pause(storage.leaseDuration / 3)
        // Shutting down, or stepped down through the API meanwhile.
        if Task.isShuttingDownGracefully || Task.isCancelled || leadership.term != term { return }
        if await core.isSealed {
            await leadership.stepDown(core: core, reason: "sealed", logger: logger)
            return
        }
        let sent = ContinuousClock.now
        do {
            if try await storage.renewLeadership(term) {
                leadership.extend(until: sent + storage.leaseDuration)
                return
            }
            await lose(term, reason: "the lease was taken or ran out")
        } catch {
            if !leadership.isActive {
                await lose(term, reason: "could not renew the lease in time (\(error))")
            }
        }
    }

    private func lose(_ term: LeadershipTerm, reason: String) async {
        storage.forgetLeadership()
        leadership.becameStandby()
        await core.dropCaches()
        logger.warning("lost leadership; now a standby", metadata: ["term": "\(term.epoch)", "reason": "\(reason)"])
    }

    private func learnLeader() async {
        if let leader = try? await storage.leader() { leadership.learn(leader) }
    }
}
