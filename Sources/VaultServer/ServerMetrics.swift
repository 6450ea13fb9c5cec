import HTTPServerKit
import Synchronization
import VaultCore

/// Counters for `GET /v1/sys/metrics` in the Prometheus text format. Only counts: no labels
/// that could carry request data.
final class ServerMetrics: Sendable {
    /// Responses by code, and request durations by route pattern and code, under one lock (one
    /// acquisition per request).
    private struct Requests {
        var byCode: [UInt: Int] = [:]
        var durations: [DurationKey: Histogram] = [:]
    }
    private struct DurationKey: Hashable {
        let route: String
        let code: UInt
    }
    private struct Histogram {
        var buckets = [Int](repeating: 0, count: ServerMetrics.durationBounds.count)
        var count = 0
        var sum = 0.0
    }
    /// Seconds: from a cached read (well under a millisecond) to a slow snapshot.
    static let durationBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    private let requests = Mutex(Requests())
    /// Scheduled snapshots (`snapshot` block): nil until a schedule runs.
    private let snapshots = Mutex<(lastSuccess: Int, failures: Int)?>(nil)

    func snapshotScheduleStarted() { snapshots.withLock { if $0 == nil { $0 = (0, 0) } } }
    func snapshotSucceeded(at unixTime: Int) { snapshots.withLock { $0 = ($0 ?? (0, 0)); $0!.lastSuccess = unixTime } }
    func snapshotFailed() { snapshots.withLock { $0 = ($0 ?? (0, 0)); $0!.failures += 1 } }

    /// Audit device writes that failed, and requests refused because no device could record them.
    private let audit = Mutex<(writeFailures: Int, refused: Int)>((0, 0))
    func auditWritesFailed(_ count: Int) { audit.withLock { $0.writeFailures += count } }
    func auditRefused() { audit.withLock { $0.refused += 1 } }

    /// One answered request: `route` is the pattern that served it (`/api/v1/vaults/:id`, never
    /// a path with ids), `unmatched` or `forwarded`.
    func record(route: String, status: UInt, seconds: Double) {
        requests.withLock { requests in
            requests.byCode[status, default: 0] += 1
            let key = DurationKey(route: route, code: status)
            var histogram = requests.durations[key] ?? Histogram()
            if let bucket = Self.durationBounds.firstIndex(where: { seconds <= $0 }) { histogram.buckets[bucket] += 1 }
            histogram.count += 1
            histogram.sum += seconds
            requests.durations[key] = histogram
        }
    }

    /// - Parameter leadership: with `ha_enabled`: whether this node is active, and its term (0 as a standby).
    func prometheus(unsealFailures: Int, rateLimited: Int, sealed: Bool, initialized: Bool, transitions: (unseals: Int, seals: Int) = (0, 0),
                    leadership: (active: Bool, term: Int64)? = nil) -> String {
        var lines = [
            "# HELP vaultd_unseal_failures_total Unseal keys refused (wrong key, bad share, failed validation hash).",
            "# TYPE vaultd_unseal_failures_total counter",
            "vaultd_unseal_failures_total \(unsealFailures)",
            "# HELP vaultd_unseal_rate_limited_total Unseal requests refused because the client sent too many wrong keys.",
            "# TYPE vaultd_unseal_rate_limited_total counter",
            "vaultd_unseal_rate_limited_total \(rateLimited)",
            "# HELP vaultd_sealed 1 while the vault is sealed.",
            "# TYPE vaultd_sealed gauge",
            "vaultd_sealed \(sealed ? 1 : 0)",
            "# HELP vaultd_unseals_total Times this process unsealed the vault (by a key, shares or the agent).",
            "# TYPE vaultd_unseals_total counter",
            "vaultd_unseals_total \(transitions.unseals)",
            "# HELP vaultd_seals_total Times this process sealed the vault (sys/seal, a rekey seen as a standby, a storage fault).",
            "# TYPE vaultd_seals_total counter",
            "vaultd_seals_total \(transitions.seals)",
            "# HELP vaultd_initialized 1 once the vault is initialized.",
            "# TYPE vaultd_initialized gauge",
            "vaultd_initialized \(initialized ? 1 : 0)",
        ]
        if let leadership {
            lines += [
                "# HELP vaultd_ha_active 1 while this node is the active one on shared storage, 0 as a standby.",
                "# TYPE vaultd_ha_active gauge",
                "vaultd_ha_active \(leadership.active ? 1 : 0)",
                "# HELP vaultd_ha_term The leadership term this node serves in (0 as a standby); it grows with each takeover.",
                "# TYPE vaultd_ha_term gauge",
                "vaultd_ha_term \(leadership.term)",
            ]
        }
        let audit = audit.withLock { $0 }
        lines += [
            "# HELP vaultd_audit_write_failures_total Audit entries an enabled audit device could not write (full disk, I/O error, missing file).",
            "# TYPE vaultd_audit_write_failures_total counter",
            "vaultd_audit_write_failures_total \(audit.writeFailures)",
            "# HELP vaultd_audit_refused_total Requests refused (or answers replaced by a 500) because no enabled audit device could record them.",
            "# TYPE vaultd_audit_refused_total counter",
            "vaultd_audit_refused_total \(audit.refused)",
        ]
        if let snapshots = snapshots.withLock({ $0 }) {
            lines += [
                "# HELP vaultd_snapshot_last_success_timestamp_seconds When the last scheduled snapshot was written (0: none yet).",
                "# TYPE vaultd_snapshot_last_success_timestamp_seconds gauge",
                "vaultd_snapshot_last_success_timestamp_seconds \(snapshots.lastSuccess)",
                "# HELP vaultd_snapshot_failures_total Scheduled snapshots that could not be taken or written.",
                "# TYPE vaultd_snapshot_failures_total counter",
                "vaultd_snapshot_failures_total \(snapshots.failures)",
            ]
        }
        let requests = requests.withLock { $0 }
        lines += [
            "# HELP vaultd_http_responses_total HTTP responses by status code.",
            "# TYPE vaultd_http_responses_total counter",
        ]
        for (status, count) in requests.byCode.sorted(by: { $0.key < $1.key }) {
            lines.append("vaultd_http_responses_total{code=\"\(status)\"} \(count)")
        }
        lines += [
            "# HELP vaultd_http_request_duration_seconds Time from a request's arrival to its answer, by route pattern and status code.",
            "# TYPE vaultd_http_request_duration_seconds histogram",
        ]
        for (key, histogram) in requests.durations.sorted(by: { ($0.key.route, $0.key.code) < ($1.key.route, $1.key.code) }) {
            let labels = "route=\"\(PrometheusText.escapeLabel(key.route))\",code=\"\(key.code)\""
            var cumulative = 0
            for (index, bound) in Self.durationBounds.enumerated() {
                cumulative += histogram.buckets[index]
                lines.append("vaultd_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(cumulative)")
            }
            lines.append("vaultd_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(histogram.count)")
            lines.append("vaultd_http_request_duration_seconds_sum{\(labels)} \(histogram.sum)")
            lines.append("vaultd_http_request_duration_seconds_count{\(labels)} \(histogram.count)")
        }
        lines += [
            "# HELP vaultd_build_info The running build: 1, labelled with its version.",
            "# TYPE vaultd_build_info gauge",
            "vaultd_build_info{version=\"\(PrometheusText.escapeLabel(VaultBuild.version))\"} 1",
        ]
        return lines.joined(separator: "\n") + "\n" + ProcessMetrics.prometheus()
    }
}

