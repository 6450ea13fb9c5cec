import Foundation
import SealKit

/// An audit device as the vault records it (Vault's `sys/audit` entry): where it is mounted
/// (`file/`), its type and options. The options are checked by the server, which writes the file.
public struct AuditDeviceRecord: Codable, Sendable, Equatable {
    public var path: String
    public var type: String
    public var description: String
    public var options: [String: String]
    public var local: Bool
    /// Declared by an `audit` block of the configuration file: created and removed by it, not
    /// through the API.
    public var declared: Bool

    public init(path: String, type: String, description: String = "", options: [String: String], local: Bool = false, declared: Bool = false) {
        self.path = Self.normalized(path)
        self.type = type
        self.description = description
        self.options = options
        self.local = local
        self.declared = declared
    }

    /// Vault's form of a device path: no leading slash, one trailing slash (`file/`).
    public static func normalized(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return trimmed + "/"
    }

    /// Whether `other` describes the same device (its key aside).
    func sameSettings(as other: AuditDeviceRecord) -> Bool {
        type == other.type && description == other.description && options == other.options && local == other.local
    }
}

/// A device with its HMAC key: each device has a key of its own, made when it is enabled, kept
/// in the audit table sealed under the keyring and cloaked in memory.
public struct AuditTableEntry: Sendable {
    public let device: AuditDeviceRecord
    public let key: CloakedKey
}

extension VaultCore {
    static let auditTablePath = "core/audit"
    static let auditTableAAD = "vaultd:audit-table"

    private struct StoredTable: Codable {
        struct Device: Codable {
            var device: AuditDeviceRecord
            /// The HMAC key, base64.
            var key: String
        }
        var devices: [Device]
    }

    /// Changes whenever the table a server may hold goes stale (unseal, seal, a new term, an
    /// enable or disable, a restore, a new configuration).
    public nonisolated var auditEpoch: UInt64 { auditEpochCounter.withLock { $0 } }

    func auditTableChanged() {
        auditEpochCounter.withLock { $0 &+= 1 }
    }

    /// The devices the configuration file declares (at start and at every SIGHUP). The next
    /// ``auditTable()`` on an unsealed, active node adds those missing and removes declared
    /// devices that are no longer declared.
    public func declareAuditDevices(_ devices: [AuditDeviceRecord]) {
        let marked = devices.map { device in
            var device = device
            device.declared = true
            return device
        }
        guard marked != declaredAuditDevices else { return }
        declaredAuditDevices = marked
        cachedAuditTable = nil
        auditTableChanged()
    }

    /// The enabled devices and their keys; empty while sealed. Brings the stored table in line
    /// with the declared devices first (a write: call it on the active node only).
    public func auditTable() async throws -> [AuditTableEntry] {
        guard let ring = keyRing else { return [] }
        if let cachedAuditTable { return cachedAuditTable }
        var stored = try await readAuditTable(ring)
        var changed = false
        // Declared devices taken out of the file, or changed in it, go (a changed one comes back
        // below with a new key, as a device enabled anew does in Vault).
        stored.devices.removeAll { entry in
            guard entry.device.declared else { return false }
            let keep = declaredAuditDevices.contains { $0.path == entry.device.path && $0.sameSettings(as: entry.device) }
            if !keep { changed = true }
            return !keep
        }
        for declared in declaredAuditDevices where !stored.devices.contains(where: { $0.device.path == declared.path }) {
            stored.devices.append(.init(device: declared, key: try Self.newAuditKey()))
            changed = true
        }
        for declared in declaredAuditDevices {
            if let held = stored.devices.first(where: { $0.device.path == declared.path }), !held.device.declared {
                logger.error("the configuration declares an audit device at a path a device enabled through the API already holds; the API's device stays (disable it to use the declared one)",
                             metadata: ["path": "\(declared.path)"])
            }
        }
        if changed {
            try await writeAuditTable(stored, ring)
            logger.info("audit devices brought in line with the configuration", metadata: ["devices": "\(stored.devices.map(\.device.path))"])
        }
        let entries = try stored.devices.map { try AuditTableEntry(device: $0.device, key: Self.cloak(base64: $0.key)) }
        if keyRing === ring { cachedAuditTable = entries }
        return entries
    }

    /// Enables `device` with a new key (`sys/audit/<path>`). A path in use is refused.
    public func enableAudit(_ device: AuditDeviceRecord) async throws {
        let ring = try requireUnsealed()
        _ = try await auditTable()
        var stored = try await readAuditTable(ring)
        if stored.devices.contains(where: { $0.device.path == device.path }) {
            throw VaultError(.badRequest, "an audit device is already enabled at \(device.path): disable it first, or choose another path")
        }
        stored.devices.append(.init(device: device, key: try Self.newAuditKey()))
        try await writeAuditTable(stored, ring)
        logger.info("audit device enabled", metadata: ["path": "\(device.path)", "type": "\(device.type)"])
    }

    /// Disables the device at `path`; returns whether one was enabled. A declared device is
    /// refused: the configuration file would bring it back.
    @discardableResult
    public func disableAudit(path: String) async throws -> Bool {
        let ring = try requireUnsealed()
        _ = try await auditTable()
        let path = AuditDeviceRecord.normalized(path)
        var stored = try await readAuditTable(ring)
        guard let index = stored.devices.firstIndex(where: { $0.device.path == path }) else { return false }
        if stored.devices[index].device.declared {
            throw VaultError(.badRequest, "the audit device at \(path) is declared in the configuration file: remove its audit block there and send vaultd SIGHUP (or restart it)")
        }
        stored.devices.remove(at: index)
        try await writeAuditTable(stored, ring)
        logger.info("audit device disabled", metadata: ["path": "\(path)"])
        return true
    }

    private func readAuditTable(_ ring: KeyRing) async throws -> StoredTable {
        guard let envelope = try await storage.get(Self.auditTablePath) else { return StoredTable(devices: []) }
        do {
            return try JSONDecoder.vault.decode(StoredTable.self, from: Data(ring.openSystem(envelope, aad: Self.auditTableAAD)))
        } catch {
            throw VaultError(.internalError, "the audit table failed to decrypt: the database is damaged")
        }
    }

    private func writeAuditTable(_ table: StoredTable, _ ring: KeyRing) async throws {
        let sealed = try ring.sealSystem(Array(try JSONEncoder.vault.encode(table)), aad: Self.auditTableAAD)
        try await storage.apply([.put(Self.auditTablePath, sealed)])
        cachedAuditTable = nil
        auditTableChanged()
    }

    private static func newAuditKey() throws -> String {
        try SecretBytes.random(count: 32).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    private static func cloak(base64: String) throws -> CloakedKey {
        guard let bytes = Data(base64Encoded: base64), bytes.count == 32 else {
            throw VaultError(.internalError, "an audit device's key in the audit table is damaged")
        }
        return try CloakedKey(SecretBytes(copying: Array(bytes)))
    }
}
