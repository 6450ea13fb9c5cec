import Synchronization

/// Counters for `GET /v1/sys/metrics` in the Prometheus text format. Only counts: no labels
/// that could carry request data.
final class ServerMetrics: Sendable {
    private let responses = Mutex<[UInt: Int]>([:])

    func record(status: UInt) {
        responses.withLock { $0[status, default: 0] += 1 }
    }

    func prometheus(unsealFailures: Int, rateLimited: Int, sealed: Bool, initialized: Bool) -> String {
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
            "# HELP vaultd_http_responses_total HTTP responses by status code.",
            "# TYPE vaultd_http_responses_total counter",
        ]
        for (status, count) in responses.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            lines.append("vaultd_http_responses_total{code=\"\(status)\"} \(count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
