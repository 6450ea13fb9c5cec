import HTTPServerKit
import LeanFoundation
import Synchronization

/// The agent's Prometheus metrics. Labels carry only target addresses, source names and fixed
/// words — never key material.
public final class AgentMetrics: Sendable {
    private struct State {
        var attempts: [String: Int] = [:]           // "target|source|outcome"
        /// Seconds of sealed spells that have ended, by target.
        var sealedSeconds: [String: Double] = [:]
        /// When the current sealed spell began, for targets sealed now: the counter grows
        /// during an outage, not only after the next unseal.
        var sealedSince: [String: ContinuousClock.Instant] = [:]
        var sealed: [String: Bool] = [:]
        var lastErrorClass: [String: String] = [:]  // target → none|retryable|needs_fix|storage_lost
        var durations: [String: Histogram] = [:]    // target → unseal durations
        var sourceLatency: [String: (sum: Double, count: Int, last: Double)] = [:]
        var inits: [String: Int] = [:]              // "target|outcome"
        var sourceUp: [String: Bool] = [:]          // source → answered with material at its last fetch
    }

    /// A Prometheus histogram as counters: one per bucket, the count and the sum. Nothing is
    /// kept per observation, so nothing is ever trimmed and the buckets never go backwards.
    /// (Kept by hand rather than through swift-prometheus: the agent's resident-memory goal is
    /// measured in docs/BENCHMARKS.md, and these are six small families.)
    struct Histogram {
        var buckets = [Int](repeating: 0, count: AgentMetrics.buckets.count)
        var count = 0
        var sum = 0.0

        mutating func observe(_ value: Double) {
            for (index, bound) in AgentMetrics.buckets.enumerated() where value <= bound { buckets[index] += 1 }
            count += 1
            sum += value
        }
    }
    private let state = Mutex(State())
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public init() {}

    func attempt(target: String, source: String, outcome: String) {
        state.withLock { $0.attempts["\(target)|\(source)|\(outcome)", default: 0] += 1 }
    }

    func setSealed(target: String, _ sealed: Bool, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.sealed[target] = sealed
            if sealed {
                if state.sealedSince[target] == nil { state.sealedSince[target] = now }
            } else if let since = state.sealedSince.removeValue(forKey: target) {
                state.sealedSeconds[target, default: 0] += (now - since).seconds
            }
        }
    }

    func lastError(target: String, _ errorClass: String) {
        state.withLock { $0.lastErrorClass[target] = errorClass }
    }

    func unsealDuration(target: String, seconds: Double) {
        state.withLock { $0.durations[target, default: Histogram()].observe(seconds) }
    }

    func sourceLatency(source: String, seconds: Double) {
        state.withLock {
            let old = $0.sourceLatency[source] ?? (0, 0, 0)
            $0.sourceLatency[source] = (old.sum + seconds, old.count + 1, seconds)
        }
    }

    /// Whether `source` answered with key material at its last fetch (an unseal or a check).
    func sourceHealth(source: String, up: Bool) {
        state.withLock { $0.sourceUp[source] = up }
    }

    func initialized(target: String, outcome: String) {
        state.withLock { $0.inits["\(target)|\(outcome)", default: 0] += 1 }
    }

    /// Whether every known target is unsealed (and there is at least one).
    var allUnsealed: Bool {
        state.withLock { !$0.sealed.isEmpty && $0.sealed.values.allSatisfy { !$0 } }
    }

    func prometheus(now: ContinuousClock.Instant = .now) -> String {
        var snapshot = state.withLock { $0 }
        for (target, since) in snapshot.sealedSince {
            snapshot.sealedSeconds[target, default: 0] += max(0, (now - since).seconds)
        }
        var lines = [String]()
        let escape = PrometheusText.escapeLabel
        lines += ["# HELP unseal_agent_unseal_attempts_total Unseal attempts by target, source and outcome.",
                  "# TYPE unseal_agent_unseal_attempts_total counter"]
        for (key, count) in snapshot.attempts.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            lines.append("unseal_agent_unseal_attempts_total{target=\"\(escape(parts[0]))\",source=\"\(escape(parts[1]))\",outcome=\"\(parts[2])\"} \(count)")
        }
        lines += ["# HELP unseal_agent_sealed_seconds_total Seconds a target was seen sealed or unreachable (the current spell included).",
                  "# TYPE unseal_agent_sealed_seconds_total counter"]
        for (target, seconds) in snapshot.sealedSeconds.sorted(by: { $0.key < $1.key }) {
            lines.append("unseal_agent_sealed_seconds_total{target=\"\(escape(target))\"} \(seconds)")
        }
        lines += ["# HELP unseal_agent_target_sealed 1 while the target is sealed.", "# TYPE unseal_agent_target_sealed gauge"]
        for (target, sealed) in snapshot.sealed.sorted(by: { $0.key < $1.key }) {
            lines.append("unseal_agent_target_sealed{target=\"\(escape(target))\"} \(sealed ? 1 : 0)")
        }
        lines += ["# HELP unseal_agent_last_error The class of the last error per target (1 for the current class).",
                  "# TYPE unseal_agent_last_error gauge"]
        for (target, errorClass) in snapshot.lastErrorClass.sorted(by: { $0.key < $1.key }) {
            for name in ["none", "retryable", "needs_fix", "storage_lost"] {
                lines.append("unseal_agent_last_error{target=\"\(escape(target))\",class=\"\(name)\"} \(name == errorClass ? 1 : 0)")
            }
        }
        lines += ["# HELP unseal_agent_unseal_duration_seconds From noticing a sealed vault to its being unsealed.",
                  "# TYPE unseal_agent_unseal_duration_seconds histogram"]
        for (target, histogram) in snapshot.durations.sorted(by: { $0.key < $1.key }) {
            for (bucket, count) in zip(Self.buckets, histogram.buckets) {
                lines.append("unseal_agent_unseal_duration_seconds_bucket{target=\"\(escape(target))\",le=\"\(bucket)\"} \(count)")
            }
            lines.append("unseal_agent_unseal_duration_seconds_bucket{target=\"\(escape(target))\",le=\"+Inf\"} \(histogram.count)")
            lines.append("unseal_agent_unseal_duration_seconds_sum{target=\"\(escape(target))\"} \(histogram.sum)")
            lines.append("unseal_agent_unseal_duration_seconds_count{target=\"\(escape(target))\"} \(histogram.count)")
        }
        lines += ["# HELP unseal_agent_source_latency_seconds Time to fetch key material, by source.",
                  "# TYPE unseal_agent_source_latency_seconds summary"]
        for (source, value) in snapshot.sourceLatency.sorted(by: { $0.key < $1.key }) {
            lines.append("unseal_agent_source_latency_seconds_sum{source=\"\(escape(source))\"} \(value.sum)")
            lines.append("unseal_agent_source_latency_seconds_count{source=\"\(escape(source))\"} \(value.count)")
        }
        lines += ["# HELP unseal_agent_source_up Whether the seal source gave key material at its last fetch (an unseal or the periodic check): 1, or 0.",
                  "# TYPE unseal_agent_source_up gauge"]
        for (source, up) in snapshot.sourceUp.sorted(by: { $0.key < $1.key }) {
            lines.append("unseal_agent_source_up{source=\"\(escape(source))\"} \(up ? 1 : 0)")
        }
        lines += ["# HELP unseal_agent_inits_total Autonomous initialisations by target and outcome.",
                  "# TYPE unseal_agent_inits_total counter"]
        for (key, count) in snapshot.inits.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|").map(String.init)
            lines.append("unseal_agent_inits_total{target=\"\(escape(parts[0]))\",outcome=\"\(parts[1])\"} \(count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
