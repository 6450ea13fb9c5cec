import HTTPTransport
import LeanFoundation

/// A client for a vault's HTTP API — Vault's `sys` endpoints (vaultd, OpenBao and Vault alike)
/// and vaultd's resource API.
public struct VaultClient: Sendable {
    public let address: VaultAddress
    public var token: String?
    public var timeout: Duration
    public var caBundlePath: String?

    public init(address: VaultAddress, token: String? = nil, timeout: Duration = .seconds(30), caBundlePath: String? = nil) {
        self.address = address
        self.token = token
        self.timeout = timeout
        self.caBundlePath = caBundlePath
    }

    /// A failure answered by the vault: its HTTP status and Vault's `errors` messages.
    public struct APIError: Error, CustomStringConvertible, Sendable {
        public let status: Int
        public let messages: [String]
        public var description: String {
            messages.isEmpty ? "the vault answered HTTP \(status)" : messages.joined(separator: "; ")
        }
    }

    /// Sends a request and returns the status and the decoded JSON body (if any).
    /// - Parameter timeout: this request's deadline, when it differs from ``timeout``.
    public func send(_ method: String, _ path: String, body: [String: Any]? = nil, timeout: Duration? = nil) async throws -> (status: Int, json: Any?) {
        var headers = [("Accept", "application/json")]
        if let token { headers.append(("X-Vault-Token", token)) }
        var data: [UInt8]?
        if let body {
            data = try AnyJSON.encode(body)
            headers.append(("Content-Type", "application/json"))
        }
        let response = try await HTTPClient.send(HTTPClientRequest(
            method: method, url: address.baseURL + path, headers: headers, body: data,
            unixSocketPath: address.unixSocketPath, timeout: timeout ?? self.timeout, caBundlePath: caBundlePath
        ))
        let json = response.body.isEmpty ? nil : AnyJSON.parse(response.body)
        return (response.status, json)
    }

    /// Sends a request and throws ``APIError`` for any status outside `accepted`.
    public func call(_ method: String, _ path: String, body: [String: Any]? = nil, accepted: Set<Int> = [200, 201, 204], timeout: Duration? = nil) async throws -> Any? {
        let (status, json) = try await send(method, path, body: body, timeout: timeout)
        guard accepted.contains(status) else {
            let messages = ((json as? [String: Any])?["errors"] as? [String]) ?? []
            throw APIError(status: status, messages: messages)
        }
        return json
    }

    // MARK: sys

    public func sealStatus() async throws -> [String: Any] {
        try await call("GET", "/v1/sys/seal-status") as? [String: Any] ?? [:]
    }

    /// `PUT /v1/sys/init`. Its deadline is long (10 minutes) on purpose: OpenBao/Vault generate
    /// the shares and return them only in this response — a client that gives up while the
    /// server is still working (raft set-up on a slow disk takes seconds) leaves an initialised
    /// vault whose keys nobody will ever see.
    public func initialize(_ body: [String: Any], timeout: Duration = .seconds(600)) async throws -> [String: Any] {
        try await call("PUT", "/v1/sys/init", body: body, timeout: timeout) as? [String: Any] ?? [:]
    }

    public func unseal(key: String) async throws -> [String: Any] {
        try await call("PUT", "/v1/sys/unseal", body: ["key": key]) as? [String: Any] ?? [:]
    }

    public func resetUnseal() async throws -> [String: Any] {
        try await call("PUT", "/v1/sys/unseal", body: ["reset": true]) as? [String: Any] ?? [:]
    }

    public func seal() async throws {
        _ = try await call("PUT", "/v1/sys/seal")
    }
}
