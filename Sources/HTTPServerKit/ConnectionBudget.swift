import CVaultSystem
import LeanFoundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How many connections the process may hold, so that no number of clients can take its last
/// descriptors.
///
/// Why: a process out of descriptors does not just refuse clients. libdispatch opens
/// `/proc/<tid>/stat` while work is queued and traps (SIGILL) when that `open` fails: 1,100 idle
/// TCP connections killed vaultd, and 1,200 killed the agent through its telemetry port. So the
/// soft `RLIMIT_NOFILE` is raised to the hard limit at start (``raiseOpenFileLimit()``), a
/// reserve is kept for everything that is not a client connection (storage, logs, the event
/// loops, libdispatch), and a part of the rest is kept for the Unix socket alone: TCP clients,
/// however many, can never starve the agent's door.
public final class ConnectionBudget: Sendable {
    /// The process-wide budget every ``HTTPListener`` draws on.
    public static let shared = ConnectionBudget(openFileLimit: ConnectionBudget.currentOpenFileLimit())

    /// Connections in all (TCP and Unix).
    public let capacity: Int
    /// Of ``capacity``, the part only Unix-socket peers may use.
    public let reservedForUnix: Int

    private struct Counts { var tcp = 0, unix = 0, highWater = 0 }
    private let counts = Mutex(Counts())

    /// - Parameter openFileLimit: the soft `RLIMIT_NOFILE`. A tenth of it (at least 64) stays
    ///   free for the process; of the rest, a tenth (at least 16, at most 1,024) is the Unix
    ///   socket's alone.
    public init(openFileLimit: Int) {
        let processReserve = max(64, openFileLimit / 10)
        capacity = max(8, openFileLimit - processReserve)
        reservedForUnix = min(1024, max(4, min(capacity / 2, max(16, capacity / 10))))
    }

    /// Takes a slot for a new connection, or says no (the caller closes it at once).
    public func admit(unix: Bool) -> Bool {
        counts.withLock { counts in
            let total = counts.tcp + counts.unix
            if unix {
                guard total < capacity else { return false }
                counts.unix += 1
            } else {
                guard total < capacity - reservedForUnix, counts.tcp < capacity - reservedForUnix else { return false }
                counts.tcp += 1
            }
            counts.highWater = max(counts.highWater, total + 1)
            return true
        }
    }

    public func release(unix: Bool) {
        let drained = counts.withLock { counts -> Bool in
            if unix { counts.unix = max(0, counts.unix - 1) } else { counts.tcp = max(0, counts.tcp - 1) }
            // The last of a crowd (a flood, a burst) has gone: give its memory back.
            guard counts.tcp + counts.unix <= 2, counts.highWater >= 256 else { return false }
            counts.highWater = counts.tcp + counts.unix
            return true
        }
        // glibc keeps what the crowd's buffers freed in its arenas; without a trim, RSS stayed
        // 20 % above its level before a 2,500-connection flood (HostileLoadTests).
        if drained { _ = csystem_malloc_trim() }
    }

    /// The soft `RLIMIT_NOFILE` now.
    public static func currentOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(min(limit.rlim_cur, 1 << 24))   // RLIM_INFINITY is rlim_t.max
    }

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped at 1,048,576). Returns the limits
    /// before and after, for the start-up log. Call before ``shared`` is first used.
    @discardableResult
    public static func raiseOpenFileLimit() -> (before: Int, after: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (1024, 1024) }
        let before = Int(min(limit.rlim_cur, 1 << 24))
        let target = min(limit.rlim_max, 1 << 20)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return (before, currentOpenFileLimit())
    }
}

/// A warning said at most once a minute per key, with how many times it happened meanwhile:
/// a refused peer that reconnects in a loop cannot flood the log (11,516 lines in 5 s before).
public final class ThrottledWarnings: Sendable {
    private struct Entry { var lastLogged: ContinuousClock.Instant; var suppressed: Int }
    private let entries = Mutex<[String: Entry]>([:])
    private let interval: Duration

    public init(interval: Duration = .seconds(60)) { self.interval = interval }

    /// Whether to log `key` now, and how many occurrences this line stands for (1 + those
    /// suppressed since the last line); nil to stay quiet.
    public func shouldLog(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        entries.withLock { entries in
            if var entry = entries[key] {
                guard now - entry.lastLogged >= interval else {
                    entry.suppressed += 1
                    entries[key] = entry
                    return nil
                }
                let count = entry.suppressed + 1
                entries[key] = Entry(lastLogged: now, suppressed: 0)
                return count
            }
            if entries.count > 10_000 { entries = entries.filter { now - $0.value.lastLogged < interval } }
            entries[key] = Entry(lastLogged: now, suppressed: 0)
            return 1
        }
    }
}
