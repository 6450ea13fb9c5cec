import Foundation
import HTTPServerKit
import Synchronization

/// Slows down whoever keeps pushing wrong keys, on the monotonic clock (a wall clock stepped back
/// an hour must not lock the agent out for an hour).
///
/// - Per peer: after ``freeFailures`` consecutive failures a peer (a uid on the Unix socket, an IP
///   on TCP) must wait, doubling up to ``maximumDelay``. A right key clears its record.
/// - Across all TCP peers: at most ``tcpGuessesPerMinute`` wrong keys a minute in all (a token
///   bucket), so many source addresses cannot multiply the guessing rate. Unix-socket peers are
///   never charged for TCP traffic: the agent's uid is locked out by nothing but its own keys.
final class UnsealGuard: Sendable {
    static let freeFailures = 5
    static let maximumDelay: Duration = .seconds(60)
    static let tcpGuessesPerMinute = 30

    private struct Record {
        var failures = 0
        var blockedUntil: ContinuousClock.Instant
    }
    private struct State {
        var records: [String: Record] = [:]
        /// The TCP-wide bucket: tokens left, and when it was last refilled.
        var tcpTokens = Double(UnsealGuard.tcpGuessesPerMinute)
        var tcpRefilled: ContinuousClock.Instant
    }
    private let state: Mutex<State>
    /// Wrong keys refused since start, for the metrics endpoint.
    let failuresTotal = Atomic<Int>(0)
    let rateLimitedTotal = Atomic<Int>(0)

    init(now: ContinuousClock.Instant = .now) {
        state = Mutex(State(tcpRefilled: now))
    }

    /// Seconds `peer` must still wait, or nil when it may try.
    func retryAfter(_ peer: Peer, now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            var wait: Duration = .zero
            if let record = state.records[peer.rateLimitKey], record.blockedUntil > now { wait = record.blockedUntil - now }
            if case .tcp = peer {
                Self.refill(&state, now: now)
                if state.tcpTokens < 1 {
                    let perToken = Duration.seconds(60) / Self.tcpGuessesPerMinute
                    wait = max(wait, perToken * (1 - state.tcpTokens))
                }
            }
            guard wait > .zero else { return nil }
            rateLimitedTotal.add(1, ordering: .relaxed)
            return max(1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
        }
    }

    func recordFailure(_ peer: Peer, now: ContinuousClock.Instant = .now) {
        failuresTotal.add(1, ordering: .relaxed)
        state.withLock { state in
            let key = peer.rateLimitKey
            var record = state.records[key] ?? Record(blockedUntil: now)
            record.failures += 1
            if record.failures >= Self.freeFailures {
                let exponent = min(record.failures - Self.freeFailures, 6)
                record.blockedUntil = now + min(Self.maximumDelay, .seconds(1 << exponent))
            }
            state.records[key] = record
            if case .tcp = peer {
                Self.refill(&state, now: now)
                state.tcpTokens -= 1
            }
            if state.records.count > 10_000 { state.records = state.records.filter { $0.value.blockedUntil > now } }
        }
    }

    func recordSuccess(_ peer: Peer) {
        _ = state.withLock { $0.records.removeValue(forKey: peer.rateLimitKey) }
    }

    private static func refill(_ state: inout State, now: ContinuousClock.Instant) {
        let elapsed = now - state.tcpRefilled
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        state.tcpTokens = min(Double(tcpGuessesPerMinute), state.tcpTokens + seconds * Double(tcpGuessesPerMinute) / 60)
        state.tcpRefilled = now
    }
}
