import Synchronization

/// Counters for `GET /v1/sys/metrics` in the Prometheus text format. Only counts: no labels
/// that could carry request data.
final class ServerMetrics: Sendable {
    private let responses = Mutex<[UInt: Int]>([:])
    /// Scheduled snapshots (`snapshot` block): nil until a schedule runs.
    private let snapshots = Mutex<(lastSuccess: Int, failures: Int)?>(nil)

    func snapshotScheduleStarted() { snapshots.withLock { if $0 == nil { $0 = (0, 0) } } }
    func snapshotSucceeded(at unixTime: Int) { snapshots.withLock { $0 = ($0 ?? (0, 0)); $0!.lastSuccess = unixTime } }
    func snapshotFailed() { snapshots.withLock { $0 = ($0 ?? (0, 0)); $0!.failures += 1 } }

    /// Audit device writes that failed, and requests refused because no device could record them.
    private let audit = Mutex<(writeFailures: Int, refused: Int)>((0, 0))
    func auditWritesFailed(_ count: Int) { audit.withLock { $0.writeFailures += count } }
    func auditRefused() { audit.withLock { $0.refused += 1 } }

    func record(status: UInt) {
        responses.withLock { $0[status, default: 0] += 1 }
    }

    /// - Parameter leadership: with `ha_enabled`: whether this node is active, and its term (0 as a standby).
    func prometheus(unsealFailures: Int, rateLimited: Int, sealed: Bool, initialized: Bool, leadership: (active: Bool, term: Int64)? = nil) -> String {
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
        lines += [
            "# HELP vaultd_http_responses_total HTTP responses by status code.",
            "# TYPE vaultd_http_responses_total counter",
        ]
        for (status, count) in responses.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            lines.append("vaultd_http_responses_total{code=\"\(status)\"} \(count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
