import DurableFile
import Foundation
import Logging
import ServiceLifecycle
import VaultCore

/// The `snapshot` block: a snapshot every `interval`, written into `path` as
/// `vaultd-<UTC time>.snap` (mode 0600, replaced atomically), the newest `retain` kept.
public struct SnapshotSchedule: Sendable, Equatable {
    public var interval: Duration
    public var directory: String
    public var retain: Int

    public static let defaultRetain = 24

    public init(interval: Duration, directory: String, retain: Int = defaultRetain) {
        self.interval = interval
        self.directory = directory
        self.retain = retain
    }
    static let prefix = "vaultd-"
    static let suffix = ".snap"
}

/// Takes the scheduled snapshots while vaultd runs. Only an unsealed, active node takes one
/// (a sealed vault cannot seal the checksums; on shared storage the active node's copy is
/// the cluster's). A failure is logged, counted (`vaultd_snapshot_failures_total`) and tried
/// again at the next interval; it never stops the server.
struct SnapshotScheduleService: Service {
    let schedule: SnapshotSchedule
    let core: VaultCore
    let leadership: Leadership
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        metrics.snapshotScheduleStarted()
        while true {
            do { try await Task.sleep(for: schedule.interval) } catch { return }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            guard await !core.isSealed, !leadership.isEnabled || leadership.isActive else { continue }
            do {
                let path = try await takeOne()
                logger.info("scheduled snapshot written", metadata: ["file": "\(path)"])
            } catch {
                metrics.snapshotFailed()
                logger.error("scheduled snapshot failed; the next is tried in \(schedule.interval)", metadata: ["directory": "\(schedule.directory)", "error": "\(error)"])
            }
        }
    }

    /// Takes, writes and prunes; returns the new file's path.
    func takeOne() async throws -> String {
        let (file, _) = try await SnapshotOperations.take(core)
        let now = Date()
        let path = schedule.directory + "/" + SnapshotSchedule.prefix + Self.stamp(now) + SnapshotSchedule.suffix
        try AtomicFile.write(file, to: path, mode: 0o600)
        metrics.snapshotSucceeded(at: Int(now.timeIntervalSince1970))
        prune()
        return path
    }

    /// Removes all but the newest `retain` snapshots this schedule wrote (their names sort by time).
    func prune() {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: schedule.directory)) ?? [])
            .filter { $0.hasPrefix(SnapshotSchedule.prefix) && $0.hasSuffix(SnapshotSchedule.suffix) }
            .sorted()
        for name in names.dropLast(schedule.retain) {
            do { try FileManager.default.removeItem(atPath: schedule.directory + "/" + name) } catch {
                logger.warning("cannot remove an old snapshot", metadata: ["file": "\(schedule.directory)/\(name)", "error": "\(error)"])
            }
        }
    }

    /// `20261130T120000.123Z`: sorts as time does; milliseconds keep two snapshots a second apart.
    static func stamp(_ date: Date) -> String {
        let seconds = date.formatted(.iso8601).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "").dropLast()
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return seconds + "." + String(repeating: "0", count: 3 - String(milliseconds).count) + String(milliseconds) + "Z"
    }
}
