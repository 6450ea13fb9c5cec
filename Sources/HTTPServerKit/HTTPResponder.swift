import LeanFoundation
import NIOHTTP1

/// Who is on the other end of a connection, established before any request byte is read.
public enum Peer: Sendable, Hashable, CustomStringConvertible {
    /// A Unix-socket peer, from the kernel (`SO_PEERCRED`): cannot be forged by the client.
    case unix(uid: UInt32, gid: UInt32, pid: Int32)
    /// A TCP peer's address.
    case tcp(String)

    public var description: String {
        switch self {
        case .unix(let uid, let gid, let pid): "unix(uid=\(uid),gid=\(gid),pid=\(pid))"
        case .tcp(let address): "tcp(\(address))"
        }
    }

    public var isTCP: Bool {
        if case .tcp = self { return true }
        return false
    }

    /// The identity rate limits are kept per: the uid for Unix peers, the IP for TCP.
    public var rateLimitKey: String {
        switch self {
        case .unix(let uid, _, _): return "uid:\(uid)"
        case .tcp(let address):
            // "[IPv4]127.0.0.1/127.0.0.1:5678" and friends: keep the host part only.
            if let colon = address.lastIndex(of: ":") { return "ip:" + address[..<colon] }
            return "ip:" + address
        }
    }
}

/// A complete HTTP request, body included (bodies are small and bounded).
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The request target as sent (path and query), for forwarding it unchanged.
    public var uri: String
    public var path: String
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var peer: Peer
    /// Whether the listener it came through may take seal operations (init, unseal): the Unix
    /// socket always, a TCP listener only when it opts in.
    public var sealOperationsAllowed: Bool

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8], peer: Peer, sealOperationsAllowed: Bool = true) {
        self.method = method
        self.uri = uri
        self.sealOperationsAllowed = sealOperationsAllowed
        self.headers = headers
        self.body = body
        self.peer = peer
        // Split on the byte: '?' is ASCII, and splitting by Character walks graphemes.
        var bytes = uri
        let offset = bytes.withUTF8 { $0.firstIndex(of: UInt8(ascii: "?")) }
        let mark = offset.map { uri.utf8.index(uri.utf8.startIndex, offsetBy: $0) }
        self.path = String(uri[..<(mark ?? uri.endIndex)])
        var query = [String: String]()
        if let mark {
            for pair in uri[uri.index(after: mark)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = PercentEncoding.decode(kv[0]) ?? String(kv[0])
                let value = kv.count > 1 ? (PercentEncoding.decode(kv[1]) ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        self.query = query
    }
}

/// A complete HTTP response.
public struct HTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Anything that turns a request into a response: the one protocol the listeners need.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) async -> HTTPResponse
}
