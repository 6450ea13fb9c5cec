/// An outbound HTTP request. Bodies and responses are small (API calls), so both are buffered.
public struct HTTPClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Route the request over this Unix socket instead of TCP (`unix:///path` addresses).
    public var unixSocketPath: String?
    /// How long connecting may take.
    public var connectTimeout: Duration
    /// How long the whole exchange may take, connecting included.
    public var timeout: Duration
    /// A PEM bundle of CAs to trust instead of the system's.
    public var caBundlePath: String?
    /// A client certificate (PEM chain) and its private key (PEM), for servers that ask for one.
    public var clientCertificate: (certificatePath: String, keyPath: String)?
    /// The name the server's certificate must carry, and the SNI sent, when it is not the URL's
    /// host (Vault's `tls_server_name`).
    public var serverName: String?

    public init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        unixSocketPath: String? = nil, connectTimeout: Duration = .seconds(5), timeout: Duration = .seconds(30),
        caBundlePath: String? = nil, clientCertificate: (certificatePath: String, keyPath: String)? = nil, serverName: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.unixSocketPath = unixSocketPath
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.caBundlePath = caBundlePath
        self.clientCertificate = clientCertificate
        self.serverName = serverName
    }
}

/// A response: status, headers (names lower-cased) and body.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Why a request got no HTTP answer.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case couldNotConnect, timedOut, tls, invalidRequest, other
    }
    /// What a TLS failure (`kind == .tls`) was, for callers that name their own settings.
    public enum TLSProblem: Sendable {
        /// The server's certificate does not chain to a trusted CA.
        case untrustedCertificate
        /// The certificate does not carry the name the client checked.
        case nameMismatch
        /// The server asked for a client certificate and none was sent.
        case clientCertificateRequired
        /// The server refused the client certificate that was sent.
        case clientCertificateRefused
        case other
    }
    public let kind: Kind
    public let message: String
    public var tlsProblem: TLSProblem?
    /// How long the exchange ran before it failed, measured on the event loop that ran it (so it
    /// says when the deadline fired, however late the caller's task resumed).
    public var elapsed: Duration = .zero

    public init(kind: Kind, message: String, tlsProblem: TLSProblem? = nil) {
        self.kind = kind
        self.message = message
        self.tlsProblem = tlsProblem
    }

    /// Connection failures and time-outs are worth retrying; the others need a fix.
    public var isRetryable: Bool { kind == .couldNotConnect || kind == .timedOut }
    public var description: String { message }
}
