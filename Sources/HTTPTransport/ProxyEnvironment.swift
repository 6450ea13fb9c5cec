import LeanFoundation

/// Which proxy, if any, an outbound request goes through — read from the environment with
/// libcurl's rules, so deployments that set these for curl keep working:
///
/// - `http://` URLs use `http_proxy` (lower case only: `HTTP_PROXY` can be set by a client
///   in CGI-like setups, so curl ignores it, and so do we);
/// - `https://` URLs use `https_proxy`, then `HTTPS_PROXY`;
/// - both fall back to `all_proxy`/`ALL_PROXY`;
/// - `no_proxy`/`NO_PROXY` lists hosts that go direct: `*` for all, a name matches itself and
///   its subdomains (a leading dot is ignored), an IP address matches exactly, and
///   `a.b.c.d/n` matches an IPv4 network.
///
/// Only `http://` proxies are supported (HTTPS is tunnelled through them with `CONNECT`); a
/// proxy URL of any other scheme is refused with an error naming the variable.
public struct ProxyEnvironment: Sendable, Equatable {
    /// The proxy to use: host, port and, when the URL carries `user:password@`, the
    /// `Proxy-Authorization` value.
    public struct Proxy: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var authorization: String?

        public init(host: String, port: Int, authorization: String?) {
            self.host = host
            self.port = port
            self.authorization = authorization
        }
    }

    private let variables: [String: String]

    public init(_ variables: [String: String]) {
        self.variables = variables
    }

    /// The proxy for a request to `host` over `scheme`, or `nil` to connect directly.
    public func proxy(scheme: String, host: String) throws -> Proxy? {
        let names = scheme == "https" ? ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] : ["http_proxy", "all_proxy", "ALL_PROXY"]
        guard let name = names.first(where: { !(variables[$0] ?? "").isEmpty }), let value = variables[name] else { return nil }
        if bypasses(host) { return nil }
        return try Self.parse(value, variable: name)
    }

    /// Whether `no_proxy`/`NO_PROXY` sends `host` direct.
    public func bypasses(_ host: String) -> Bool {
        let list = variables["no_proxy"] ?? variables["NO_PROXY"] ?? ""
        let target = Self.bare(host).lowercased()
        for raw in list.split(separator: ",") {
            var entry = raw.trimmed.lowercased()
            if entry == "*" { return true }
            if entry.hasPrefix(".") { entry.removeFirst() }
            entry = Self.bare(entry)
            if entry.isEmpty { continue }
            if let slash = entry.firstIndex(of: "/") {
                if let network = IPv4(entry[..<slash]), let bits = Int(entry[entry.index(after: slash)...]), (0...32).contains(bits),
                   let address = IPv4(target[...]) {
                    let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
                    if network.value & mask == address.value & mask { return true }
                }
                continue
            }
            if target == entry || target.hasSuffix("." + entry) { return true }
        }
        return false
    }

    static func parse(_ value: String, variable: String) throws -> Proxy {
        var rest = Substring(value)
        if let scheme = rest.firstRange(of: "://") {
            guard rest[..<scheme.lowerBound].lowercased() == "http" else {
                throw HTTPTransportError(kind: .invalidRequest, message: "\(variable): only http:// proxies are supported (HTTPS goes through them with CONNECT)")
            }
            rest = rest[scheme.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var authorization: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = PercentEncoding.decode(rest[..<at]) ?? String(rest[..<at])
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
            rest = rest[rest.index(after: at)...]
        }
        guard let (host, port) = HostAndPort.split(rest, defaultPort: 80), !host.isEmpty else {
            throw HTTPTransportError(kind: .invalidRequest, message: "\(variable) is not a proxy address: use http://host:port")
        }
        return Proxy(host: host, port: port, authorization: authorization)
    }

    /// `[::1]` → `::1`.
    private static func bare(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}

/// A dotted-quad IPv4 address as a number, for `no_proxy` networks.
private struct IPv4 {
    let value: UInt32

    init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        self.value = value
    }
}

/// `host:port`, `[v6]:port` or a bare host.
enum HostAndPort {
    static func split(_ text: Substring, defaultPort: Int) -> (String, Int)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            if after.isEmpty { return (host, defaultPort) }
            guard after.hasPrefix(":"), let port = Int(after.dropFirst()), (1...65535).contains(port) else { return nil }
            return (host, port)
        }
        guard let colon = text.lastIndex(of: ":") else { return (String(text), defaultPort) }
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return (String(text[..<colon]), port)
    }
}
