import Foundation
import SealKit
import Synchronization

/// The enabled audit devices of a running vaultd, and the rule Vault applies to them: an entry
/// counts as recorded when at least one device wrote it. With no device enabled nothing is
/// audited; with devices enabled and none able to write, the caller refuses the request.
public final class AuditBroker: Sendable {
    /// One device as the broker holds it: its options, its HMAC key (cloaked) and its file.
    public struct Device: Sendable {
        public let path: String
        public let options: FileAuditOptions
        let key: CloakedKey
        /// nil when the file could not be opened: the device then fails every entry.
        let file: AuditFile?
        let openError: AuditError?
    }

    /// A device wanted: what the vault's audit table holds.
    public struct Wanted: Sendable {
        public var path: String
        public var options: FileAuditOptions
        public var key: CloakedKey
        public init(path: String, options: FileAuditOptions, key: CloakedKey) {
            self.path = path
            self.options = options
            self.key = key
        }
    }

    /// What happened to one entry.
    public struct Outcome: Sendable {
        public var devices: Int
        public var recorded: Int
        public var failures: [(path: String, error: AuditError)]
        /// Whether the request may go on (or its answer be sent): nothing to audit, or audited.
        public var isRecorded: Bool { devices == 0 || recorded > 0 }
    }

    private let devices = Mutex<[Device]>([])

    public init() {}

    public var isEmpty: Bool { devices.withLock { $0.isEmpty } }
    public var paths: [String] { devices.withLock { $0.map(\.path) } }

    /// Makes `wanted` the enabled set. A device whose path and options are unchanged keeps its
    /// open file; the others are opened now. Returns the devices whose file could not be opened
    /// (they stay enabled, and fail, so a broken path refuses requests instead of hiding them).
    @discardableResult
    public func install(_ wanted: [Wanted]) -> [(path: String, error: AuditError)] {
        let current = devices.withLock { $0 }
        var next = [Device]()
        var failures = [(path: String, error: AuditError)]()
        for device in wanted {
            if let kept = current.first(where: { $0.path == device.path && $0.options == device.options && $0.file != nil }) {
                next.append(Device(path: device.path, options: device.options, key: device.key, file: kept.file, openError: nil))
                continue
            }
            do {
                next.append(Device(path: device.path, options: device.options, key: device.key, file: try AuditFile(device.options), openError: nil))
            } catch {
                next.append(Device(path: device.path, options: device.options, key: device.key, file: nil, openError: error))
                failures.append((device.path, error))
            }
        }
        devices.withLock { $0 = next }
        return failures
    }

    /// Forgets every device (the vault sealed: their keys go with it).
    public func removeAll() {
        devices.withLock { $0.removeAll() }
    }

    /// Writes the entry `make` builds to every device, each with that device's hasher; returns
    /// once each has written it (or failed).
    public func record(_ make: (_ hasher: AuditHasher, _ hashAccessor: Bool) -> AuditEntry) async -> Outcome {
        let current = devices.withLock { $0 }
        var outcome = Outcome(devices: current.count, recorded: 0, failures: [])
        for device in current {
            do {
                guard let file = device.file else { throw device.openError ?? AuditError(.cannotOpen, "the audit file is not open") }
                let line = try device.key.key.reveal { key in
                    try make(AuditHasher(key: key), device.options.hmacAccessor).line(prefix: device.options.prefix)
                }
                try await file.append(line)
                outcome.recorded += 1
            } catch let error as AuditError {
                outcome.failures.append((device.path, error))
            } catch {
                outcome.failures.append((device.path, AuditError(.cannotWrite, "cannot build the audit entry: \(error)")))
            }
        }
        return outcome
    }

    /// `value` as device `path` writes it (`sys/audit-hash`); nil for a device not enabled.
    public func hash(_ value: String, device path: String) throws -> String? {
        guard let device = devices.withLock({ $0.first { $0.path == path } }) else { return nil }
        return try device.key.key.reveal { AuditHasher(key: $0).hash(value) }
    }

    /// Reopens every file (SIGHUP), and tries again to open those that could not be. Returns the
    /// devices still without a file of their own; an open file that cannot be reopened stays in use.
    public func reopenAll() -> [(path: String, error: AuditError)] {
        var failures = [(path: String, error: AuditError)]()
        let reopened = devices.withLock { $0 }.map { device -> Device in
            do throws(AuditError) {
                if let file = device.file {
                    try file.reopen()
                    return device
                }
                return Device(path: device.path, options: device.options, key: device.key, file: try AuditFile(device.options), openError: nil)
            } catch {
                failures.append((device.path, error))
                return device
            }
        }
        devices.withLock { current in
            // Only if nothing was installed meanwhile (a reload wins over a reopen).
            if current.map({ $0.path }) == reopened.map({ $0.path }) { current = reopened }
        }
        return failures
    }
}
