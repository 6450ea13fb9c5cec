import Foundation
import HTTPServerKit
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
        route([.GET], "/v1/sys/key-status") { request, _ in
            try await Self.requireRoot(request, core: core, "reading the key status")
            let status = try await core.keyringStatus()
            return JSONResponse.encode(KeyStatusResponse(
                term: status.term, installTime: Self.rfc3339(status.installTime),
                encryptions: status.encryptions
            ))
        }
    }

    /// RFC 3339 with fractional seconds, as Go's `time.RFC3339Nano` reads it.
    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
