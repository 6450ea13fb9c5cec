import Foundation
import HTTPServerKit
import VaultAudit
import VaultCore
import VaultWire

/// Vault's `sys/audit` API: list, enable (only with `unsafe_allow_api_audit_creation`; devices
/// are otherwise declared in the configuration file), disable, and `sys/audit-hash` to find a
/// value in a log that holds only its HMAC. The root token only, as Vault asks `sudo`.
extension VaultAPI {
    mutating func addAuditRoutes() {
        let core = self.core
        let audit = self.audit
        let allowCreation = self.allowAPIAuditCreation

        route([.GET], "/v1/sys/audit") { request, _ in
            try await Self.requireRoot(request, core: core, "listing audit devices")
            var devices = [String: AuditDeviceInfo]()
            for entry in try await core.auditTable() {
                let device = entry.device
                devices[device.path] = AuditDeviceInfo(type: device.type, description: device.description, options: device.options, local: device.local, path: device.path)
            }
            return JSONResponse.encode(AuditListResponse(devices))
        }
        route([.PUT, .POST], "/v1/sys/audit/:path") { request, parameters in
            try await Self.requireRoot(request, core: core, "enabling an audit device")
            guard allowCreation else {
                throw VaultError(.badRequest, "cannot enable an audit device through the API: declare it in vaultd's configuration file (audit \"file\" \"\(parameters["path"]!)\" { options { file_path = \"…\" } }) and send SIGHUP, or set unsafe_allow_api_audit_creation = true there")
            }
            let device = try Self.auditDevice(request, path: parameters["path"]!)
            try await core.enableAudit(device)
            return JSONResponse.noContent()
        }
        route([.DELETE], "/v1/sys/audit/:path") { request, parameters in
            try await Self.requireRoot(request, core: core, "disabling an audit device")
            try await core.disableAudit(path: parameters["path"]!)
            return JSONResponse.noContent()
        }
        route([.PUT, .POST], "/v1/sys/audit-hash/:path") { request, parameters in
            try await Self.requireRoot(request, core: core, "hashing with an audit device's key")
            let body = try RequestBody(request.body, allowEmpty: false)
            guard let input = try body.string("input") else { throw VaultError(.badRequest, "input is required: the value to hash") }
            try await audit.refresh()
            let path = AuditDeviceRecord.normalized(parameters["path"]!)
            guard let hash = try audit.broker.hash(input, device: path) else {
                throw VaultError(.badRequest, "no audit device is enabled at \(path)")
            }
            return JSONResponse.encode(AuditHashResponse(AuditHash(hash: hash)))
        }
    }

    /// The device a `sys/audit/<path>` body describes, its options checked and its file opened
    /// once, so a path vaultd cannot write is refused here rather than failing every request.
    static func auditDevice(_ request: HTTPRequest, path: String) throws -> AuditDeviceRecord {
        let body = try RequestBody(request.body, allowEmpty: false)
        let type = try body.string("type") ?? ""
        guard type == "file" else {
            throw VaultError(.badRequest, type.isEmpty ? "type is required: vaultd's audit devices are of type \"file\"" : "audit devices of type \"\(type)\" are not supported; use \"file\"")
        }
        var options = [String: String]()
        if let given = body.object["options"] {
            guard let object = given as? [String: Any] else { throw VaultError(.badRequest, "options must be an object of strings") }
            for (name, value) in object {
                switch value {
                case let text as String: options[name] = text
                case let flag as Bool: options[name] = flag ? "true" : "false"
                case let number as Int: options[name] = String(number)
                default: throw VaultError(.badRequest, "options.\(name) must be a string")
                }
            }
        }
        let checked: FileAuditOptions
        do {
            checked = try FileAuditOptions(options)
            _ = try AuditFile(checked)
        } catch {
            throw VaultError(.badRequest, error.message)
        }
        return AuditDeviceRecord(path: path, type: type, description: try body.string("description") ?? "", options: options,
                                 local: try body.vaultBool("local") ?? false)
    }
}
