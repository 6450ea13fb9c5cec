#if canImport(Glibc)
import Glibc
#endif
import LeanFoundation

/// The process collector's standard metrics (the names Prometheus' own clients use), read from
/// `/proc/self` at scrape time: CPU seconds, resident memory, open and maximum descriptors,
/// start time. Both daemons serve them with their own metrics.
public enum ProcessMetrics {
    public static func prometheus() -> String {
        var lines = [String]()
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after "pid (comm)": state is field 3; utime 14, stime 15, starttime 22, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 21, ticks > 0, let user = Double(fields[11]), let system = Double(fields[12]),
               let start = Double(fields[19]), let rss = Double(fields[21]) {
                lines += [
                    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
                    "# TYPE process_cpu_seconds_total counter",
                    "process_cpu_seconds_total \((user + system) / ticks)",
                    "# HELP process_resident_memory_bytes Resident memory size in bytes.",
                    "# TYPE process_resident_memory_bytes gauge",
                    "process_resident_memory_bytes \(Int(rss) * Int(sysconf(Int32(_SC_PAGESIZE))))",
                ]
                if let boot = bootTime() {
                    lines += [
                        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
                        "# TYPE process_start_time_seconds gauge",
                        "process_start_time_seconds \(Double(boot) + start / ticks)",
                    ]
                }
            }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            lines += [
                "# HELP process_open_fds Number of open file descriptors.",
                "# TYPE process_open_fds gauge",
                "process_open_fds \(max(0, descriptors.count - 1))",   // less the one that read the directory
            ]
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            lines += [
                "# HELP process_max_fds Maximum number of open file descriptors.",
                "# TYPE process_max_fds gauge",
                "process_max_fds \(limit.rlim_cur)",
            ]
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// `btime` of /proc/stat: when the machine booted, in seconds since the epoch.
    private static func bootTime() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Int(line.dropFirst(6).filter { !$0.isWhitespace })
        }
        return nil
    }
}

/// Prometheus' text format, shared by both daemons' metrics.
public enum PrometheusText {
    /// A label value as the format needs it: backslash, quote and newline escaped.
    public static func escapeLabel(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }
}
