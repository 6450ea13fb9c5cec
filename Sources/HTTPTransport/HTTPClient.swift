import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

import LeanFoundation

/// Outbound HTTP/1.1 on SwiftNIO: exact connect and total deadlines, Unix sockets, the proxy
/// environment (``ProxyEnvironment``: `http_proxy`, `HTTPS_PROXY` through `CONNECT`,
/// `NO_PROXY`), custom CA bundles, TLS verification always on.
///
/// One request per connection (`Connection: close`): the agent and vaultctl make a handful of
/// small calls, and a fresh connection is what a restarted vault needs anyway. TLS is
/// swift-nio-ssl's BoringSSL, already linked for vaultd's listeners — so the agent carries no
/// libcurl and none of what a distribution's libcurl links (LDAP, RTMP, SSH, Kerberos, a second
/// and third TLS library), in a process that holds cloud credentials.
public enum HTTPClient {
    /// Responses larger than this fail: every API this package calls answers in kilobytes.
    public static let maxResponseBytes = 8 << 20

    /// Sends `request`, with proxies from this process's environment.
    public static func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        try await send(request, proxies: ProxyEnvironment(ProcessInfo.processInfo.environment))
    }

    /// Sends `request` with the given proxy settings.
    public static func send(
        _ request: HTTPClientRequest, proxies: ProxyEnvironment,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HTTPClientResponse {
        let target: HTTPTarget
        let proxy: ProxyEnvironment.Proxy?
        do {
            target = try HTTPTarget(request.url)
            proxy = request.unixSocketPath == nil ? try proxies.proxy(scheme: target.scheme, host: target.host) : nil
        } catch let error as HTTPTransportError {
            throw HTTPTransportError(kind: error.kind, message: "\(request.method) \(request.url): \(error.message)")
        }
        let exchange = HTTPExchange(request: request, target: target, proxy: proxy, eventLoop: group.next())
        return try await exchange.start().get()
    }
}

/// Where a URL points: scheme, host, port, and the request target.
struct HTTPTarget: Sendable {
    let scheme: String
    /// Without brackets for IPv6 literals.
    let host: String
    let port: Int
    /// `/path?query`.
    let requestTarget: String
    /// What `Host:` says: the port only when it is not the scheme's default.
    let hostHeader: String
    /// `host:port` as `CONNECT` names it: the port always.
    let authority: String

    init(_ url: String) throws {
        guard let separator = url.firstRange(of: "://") else {
            throw HTTPTransportError(kind: .invalidRequest, message: "not an http:// or https:// URL")
        }
        scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw HTTPTransportError(kind: .invalidRequest, message: "unsupported protocol \(scheme)://: use http:// or https://")
        }
        var rest = url[separator.upperBound...]
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let given = rest[..<authorityEnd]
        let defaultPort = scheme == "https" ? 443 : 80
        guard !given.contains("@"), let (host, port) = HostAndPort.split(given, defaultPort: defaultPort), !host.isEmpty else {
            throw HTTPTransportError(kind: .invalidRequest, message: "malformed host in the URL")
        }
        self.host = host
        self.port = port
        let path = rest[authorityEnd...]
        requestTarget = path.hasPrefix("/") ? String(path) : "/" + path
        let bracketed = host.contains(":") ? "[\(host)]" : host
        authority = "\(bracketed):\(port)"
        hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// `http://host:port/path`: the request target a plain-HTTP proxy needs.
    var absoluteForm: String { "\(scheme)://\(hostHeader)\(requestTarget)" }

    /// An IP literal gets no SNI; its certificate is checked against the address connected to.
    var isIPAddress: Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
