import HCL
import VaultAudit
import VaultCore

/// `audit "file" "<path>" { description = "…"  options { file_path = "…" } }`: audit devices
/// declared in the file (OpenBao's stanza), created on the active node when it unseals and
/// removed when their block goes (at a restart or SIGHUP). `audit "file" { … }` mounts at
/// `file/`, as `bao audit enable file` does; the options may also be written in the block itself.
extension ServerConfiguration {
    static func auditDevices(_ root: ConfigBody) throws -> [AuditDeviceRecord] {
        let blocks = try root.blocks("audit", labels: 1...2)
        var devices = [AuditDeviceRecord]()
        for block in blocks {
            let type = block.labels[0]
            guard type == "file" else {
                throw HCLError(.invalidValue, at: block.location, "audit \"\(type)\" is not supported: vaultd writes audit devices of type \"file\" (file_path may be \"stdout\" for a container's log)")
            }
            let path = AuditDeviceRecord.normalized(block.labels.count > 1 ? block.labels[1] : type)
            if devices.contains(where: { $0.path == path }) {
                throw HCLError(.duplicate, at: block.location, "two audit blocks mount a device at \(path); give each its own path")
            }
            let body = block.body
            try body.checkKeys(["description", "local", "options"] + FileAuditOptions.knownOptions)
            var options = [String: String]()
            for name in FileAuditOptions.knownOptions {
                if let value = try optionText(name, in: body) { options[name] = value }
            }
            if let nested = try body.block("options") {
                try nested.checkKeys(FileAuditOptions.knownOptions)
                for name in FileAuditOptions.knownOptions {
                    guard let value = try optionText(name, in: nested) else { continue }
                    if options[name] != nil { throw nested.error(name, "\(name) is set both in the block and in its options; keep one") }
                    options[name] = value
                }
            }
            do { _ = try FileAuditOptions(options) } catch {
                throw HCLError(.invalidValue, at: block.location, "audit \"file\" \"\(path.dropLast())\": \(error.message)")
            }
            devices.append(AuditDeviceRecord(path: path, type: type, description: try body.string("description") ?? "", options: options,
                                             local: try body.bool("local") ?? false, declared: true))
        }
        return devices
    }

    /// An option as Vault's API carries it, a string; `fsync = false` and `mode = 0600` are
    /// taken as written.
    private static func optionText(_ name: String, in body: ConfigBody) throws -> String? {
        guard let value = try body.value(name) else { return nil }
        switch value.kind {
        case .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .number(.integer(let number)): return String(number)
        default: throw body.error(name, "expected a string; found \(value.typeName)")
        }
    }
}
