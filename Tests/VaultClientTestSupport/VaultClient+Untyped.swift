import LeanFoundation
import VaultClient

/// Untyped calls for tests that probe vaultd's API with bodies no client would send — a wrong
/// type, a missing field, an unknown key — and read the answer a field at a time. Production
/// code speaks only the typed calls (VaultWire's types), so these live out of VaultClient.
extension VaultClient {
    /// Sends a request and returns the status and the decoded JSON body (if any).
    public func send(_ method: String, _ path: String, body: [String: Any]? = nil, timeout: Duration? = nil) async throws -> (status: Int, json: Any?) {
        let (status, answer) = try await exchange(method, path, body: try body.map { try AnyJSON.encode($0) }, timeout: timeout)
        return (status, answer.isEmpty ? nil : AnyJSON.parse(answer))
    }

    /// Sends a request and throws ``VaultClient/APIError`` for any status outside `accepted`.
    public func call(_ method: String, _ path: String, body: [String: Any]? = nil, accepted: Set<Int> = [200, 201, 204], timeout: Duration? = nil) async throws -> Any? {
        let (status, answer) = try await exchange(method, path, body: try body.map { try AnyJSON.encode($0) }, timeout: timeout)
        guard accepted.contains(status) else { throw APIError(status: status, body: answer) }
        return answer.isEmpty ? nil : AnyJSON.parse(answer)
    }
}
