import Foundation
import HCL
import HTTPServerKit
import Logging
import ServiceLifecycle
import VaultCore
import VaultWire

/// The keyring: `sys/rotate` (and `sys/rotate/keyring`, what `bao operator rotate` calls) adds
/// a term that new records are sealed under; `sys/key-status` reports the active one. The root
/// token only, as Vault asks `sudo`.
extension VaultAPI {
    mutating func addKeyringRoutes() {
        let core = self.core
        for path in ["/v1/sys/rotate", "/v1/sys/rotate/keyring"] {
            route([.POST, .PUT], path) { request, _ in
                try await Self.requireRoot(request, core: core, "rotating the keyring")
                try await core.rotateKeyring()
                return JSONResponse.noContent()
            }
        }
        route([.GET], "/v1/sys/rotate/config") { request, _ in
            try await Self.requireRoot(request, core: core, "reading the rotation policy")
            let policy = try await core.rotationPolicy()
            return JSONResponse.encode(RotationConfigResponse(RotationConfig(enabled: policy.enabled, maxOperations: policy.maxOperations, interval: "\(policy.intervalSeconds)s")))
        }
        route([.POST, .PUT], "/v1/sys/rotate/config") { request, _ in
            try await Self.requireRoot(request, core: core, "setting the rotation policy")
            let body = try RequestBody(request.body, allowEmpty: false)
            var policy = try await core.rotationPolicy()
            if let enabled = try body.vaultBool("enabled") { policy.enabled = enabled }
            if let operations = try body.int("max_operations") { policy.maxOperations = operations }
            if let value = body.object["interval"] {
                // Vault takes "24h" or seconds.
                if let seconds = value as? Int { policy.intervalSeconds = seconds } else if let text = value as? String {
                    if let seconds = Int(text) { policy.intervalSeconds = seconds } else if let duration = Duration(configText: text) {
                        policy.intervalSeconds = Int(duration.components.seconds)
                    } else {
                        throw VaultError(.badRequest, "interval: expected a duration such as \"24h\" or a number of seconds; got \"\(text)\"")
                    }
                } else {
                    throw VaultError(.badRequest, "interval: expected a duration such as \"24h\" or a number of seconds")
                }
            }
            try await core.setRotationPolicy(policy)
            return JSONResponse.noContent()
        }
        route([.GET], "/v1/sys/key-status") { request, _ in
            try await Self.requireRoot(request, core: core, "reading the key status")
            let status = try await core.keyringStatus()
            return JSONResponse.encode(KeyStatusResponse(KeyStatus(
                term: status.term, installTime: Self.rfc3339(status.installTime), encryptions: status.encryptions
            )))
        }
    }

    /// RFC 3339 with fractional seconds, as Go's `time.RFC3339Nano` reads it.
    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Rotates the keyring when its policy (`sys/rotate/config`) says a term is due: checked every
/// second on an unsealed, active node (cheap when not due: one small read).
struct KeyringRotationService: Service {
    let core: VaultCore
    let leadership: Leadership
    let logger: Logger

    func run() async throws {
        while true {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            guard await !core.isSealed, !leadership.isEnabled || leadership.isActive else { continue }
            do { try await core.rotateIfDue() } catch {
                logger.error("keyring rotation by policy failed; tried again in a second", metadata: ["error": "\(error)"])
            }
        }
    }
}
