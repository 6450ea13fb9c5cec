import HTTPTransport
import VaultWire

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

    /// Sends a request and returns the status and the raw body.
    /// - Parameter timeout: this request's deadline, when it differs from ``timeout``.
    public func exchange(_ method: String, _ path: String, body: [UInt8]? = nil, timeout: Duration? = nil) async throws -> (status: Int, body: [UInt8]) {
        var headers = [("Accept", "application/json")]
        if let token { headers.append(("X-Vault-Token", token)) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response = try await HTTPClient.send(HTTPClientRequest(
            method: method, url: address.baseURL + path, headers: headers, body: body,
            unixSocketPath: address.unixSocketPath, timeout: timeout ?? self.timeout, caBundlePath: caBundlePath
        ))
        return (response.status, response.body)
    }

    /// Sends a wire request and decodes the answer as `T`; throws ``APIError`` for any status
    /// outside `accepted`, or an answer that is not `T`.
    public func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = nil as Never?, as type: T.Type,
                                   accepted: Set<Int> = [200, 201, 204], timeout: Duration? = nil) async throws -> T {
        let (status, answer) = try await exchange(method, path, body: try body.map { try WireJSON.encode($0) }, timeout: timeout)
        guard accepted.contains(status) else { throw APIError(status: status, body: answer) }
        guard let value = WireJSON.decode(type, from: answer) else {
            throw APIError(status: status, messages: ["the answer to \(method) \(path) is not what Vault's API defines"])
        }
        return value
    }

    /// Sends a wire request and returns the answer's bytes as the server sent them (for a
    /// client that decodes only part of them, or prints them); throws ``APIError`` for any
    /// status outside `accepted`.
    public func answer(_ method: String, _ path: String, body: (some Encodable)? = nil as Never?, accepted: Set<Int> = [200, 201, 204]) async throws -> [UInt8] {
        let (status, answer) = try await exchange(method, path, body: try body.map { try WireJSON.encode($0) })
        guard accepted.contains(status) else { throw APIError(status: status, body: answer) }
        return answer
    }

    // MARK: sys

    public func sealStatus() async throws -> SealStatusResponse {
        try await call("GET", "/v1/sys/seal-status", as: SealStatusResponse.self)
    }

    /// `PUT /v1/sys/init`. Its deadline is long (10 minutes) on purpose: OpenBao/Vault generate
    /// the shares and return them only in this response — a client that gives up while the
    /// server is still working (raft set-up on a slow disk takes seconds) leaves an initialised
    /// vault whose keys nobody will ever see.
    public func initialize(_ request: InitRequest, timeout: Duration = .seconds(600)) async throws -> InitResponse {
        try await call("PUT", "/v1/sys/init", body: request, as: InitResponse.self, timeout: timeout)
    }

    public func unseal(key: String) async throws -> SealStatusResponse {
        try await call("PUT", "/v1/sys/unseal", body: UnsealRequest(key: key), as: SealStatusResponse.self)
    }

    public func resetUnseal() async throws -> SealStatusResponse {
        try await call("PUT", "/v1/sys/unseal", body: UnsealRequest(reset: true), as: SealStatusResponse.self)
    }

    public func health() async throws -> (status: Int, health: HealthResponse?) {
        let (status, answer) = try await exchange("GET", "/v1/sys/health")
        return (status, WireJSON.decode(HealthResponse.self, from: answer))
    }

    public func seal() async throws {
        let (status, answer) = try await exchange("PUT", "/v1/sys/seal")
        guard (200..<300).contains(status) else { throw APIError(status: status, body: answer) }
    }
}

extension VaultClient.APIError {
    /// The error a vault answered: Vault's `{"errors": […]}` messages, if the body has them.
    public init(status: Int, body: [UInt8]) {
        self.init(status: status, messages: WireJSON.decode(ErrorResponse.self, from: body)?.errors ?? [])
    }
}
