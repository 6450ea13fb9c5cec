import Foundation
@testable import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket on 127.0.0.1 that accepts connections (the kernel does, via the backlog) and
/// never answers: the shape of a hung server.
final class SilentServer {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0, listen(descriptor, 16) == 0 else { throw TestSupportError("cannot listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}

@Suite("HTTP client")
struct HTTPClientTests {
    @Test("a server that accepts and never answers fails at the deadline")
    func deadline() async throws {
        let server = try SilentServer()
        for milliseconds in [300, 800] {
            let started = ContinuousClock.now
            let error = await #expect(throws: HTTPTransportError.self) {
                _ = try await HTTPClient.send(HTTPClientRequest(
                    method: "GET", url: "http://127.0.0.1:\(server.port)/v1/sys/seal-status",
                    timeout: .milliseconds(milliseconds)
                ))
            }
            let wall = ContinuousClock.now - started
            let elapsed = error?.elapsed ?? .zero
            print("deadline \(milliseconds) ms: the client gave up after \(elapsed); the awaiting task resumed after \(wall)")
            #expect(error?.kind == .timedOut)
            #expect(error?.isRetryable == true)
            // Never early: load can only make a deadline fire later. How much later is a
            // benchmark's business, not a test's (a busy machine would make it flake).
            #expect(elapsed >= .milliseconds(milliseconds - 5))
        }
    }

    @Test("nothing listening: a quick, retryable connection error")
    func refused() async throws {
        // A port that was just listening and is now closed (the server is released here).
        let port = try { try SilentServer().port }()
        let error = await #expect(throws: HTTPTransportError.self) {
            _ = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/"))
        }
        #expect(error?.kind == .couldNotConnect)
        let missing = await #expect(throws: HTTPTransportError.self) {
            _ = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://localhost/", unixSocketPath: "/nonexistent/vaultd.sock"))
        }
        #expect(missing?.kind == .couldNotConnect)
        #expect(missing?.message.contains("/nonexistent/vaultd.sock") == true)
    }

    @Test("addresses: unix, http, https; anything else is refused")
    func addresses() throws {
        let unix = try VaultAddress("unix:///run/vaultd/vaultd.sock")
        #expect(unix.unixSocketPath == "/run/vaultd/vaultd.sock")
        #expect(unix.baseURL == "http://localhost")
        #expect(try VaultAddress("https://vault.example:8200/").baseURL == "https://vault.example:8200")
        #expect(throws: HTTPTransportError.self) { _ = try VaultAddress("unix://relative.sock") }
        #expect(throws: HTTPTransportError.self) { _ = try VaultAddress("ftp://x") }
        #expect(throws: HTTPTransportError.self) { _ = try VaultAddress("127.0.0.1:8200") }
    }
}

@Suite("proxy environment: libcurl's rules")
struct ProxyEnvironmentTests {
    @Test("which variable applies to which scheme")
    func variables() throws {
        let proxy = ProxyEnvironment.Proxy(host: "proxy.internal", port: 3128, authorization: nil)
        #expect(try ProxyEnvironment(["http_proxy": "http://proxy.internal:3128"]).proxy(scheme: "http", host: "a.example") == proxy)
        // Upper-case HTTP_PROXY is ignored, as curl does: a CGI client can set it.
        #expect(try ProxyEnvironment(["HTTP_PROXY": "http://proxy.internal:3128"]).proxy(scheme: "http", host: "a.example") == nil)
        #expect(try ProxyEnvironment(["HTTPS_PROXY": "proxy.internal:3128"]).proxy(scheme: "https", host: "a.example") == proxy)
        #expect(try ProxyEnvironment(["https_proxy": "http://proxy.internal:3128/"]).proxy(scheme: "http", host: "a.example") == nil)
        #expect(try ProxyEnvironment(["ALL_PROXY": "http://proxy.internal:3128"]).proxy(scheme: "https", host: "a.example") == proxy)
        #expect(try ProxyEnvironment(["http_proxy": "proxy.internal"]).proxy(scheme: "http", host: "a.example")?.port == 80)
        #expect(try ProxyEnvironment([:]).proxy(scheme: "https", host: "a.example") == nil)
    }

    @Test("NO_PROXY: *, names and their subdomains, exact addresses, IPv4 networks")
    func noProxy() throws {
        let environment = ProxyEnvironment(["NO_PROXY": " .example.com, 169.254.169.254,10.0.0.0/8 ,[::1]", "https_proxy": "http://p:1"])
        #expect(environment.bypasses("example.com"))
        #expect(environment.bypasses("kms.EXAMPLE.com"))
        #expect(!environment.bypasses("badexample.com"))
        #expect(environment.bypasses("169.254.169.254"))
        #expect(!environment.bypasses("169.254.169.25"))
        #expect(environment.bypasses("10.200.0.1"))
        #expect(!environment.bypasses("11.0.0.1"))
        #expect(environment.bypasses("::1"))
        #expect(try environment.proxy(scheme: "https", host: "vault.example.com") == nil)
        #expect(try environment.proxy(scheme: "https", host: "kms.us-east-1.amazonaws.com") != nil)
        #expect(ProxyEnvironment(["no_proxy": "*"]).bypasses("anything"))
    }

    @Test("credentials become Proxy-Authorization; other proxy schemes are refused by name")
    func parsing() throws {
        let proxy = try #require(try ProxyEnvironment(["https_proxy": "http://agent:p%40ss@proxy:8080"]).proxy(scheme: "https", host: "a.example"))
        #expect(proxy.authorization == "Basic YWdlbnQ6cEBzcw==")  // agent:p@ss
        #expect(proxy.host == "proxy" && proxy.port == 8080)
        let error = #expect(throws: HTTPTransportError.self) {
            _ = try ProxyEnvironment(["https_proxy": "https://proxy:443"]).proxy(scheme: "https", host: "a.example")
        }
        #expect(error?.message.contains("https_proxy") == true)
        #expect(throws: HTTPTransportError.self) {
            _ = try ProxyEnvironment(["http_proxy": "http://proxy:notaport"]).proxy(scheme: "http", host: "a.example")
        }
    }

    @Test("URLs that are not http:// or https:// are refused before connecting")
    func urls() async throws {
        for url in ["ftp://127.0.0.1/", "127.0.0.1:8200/v1/sys/health", "http://user@127.0.0.1/", "http://127.0.0.1:99999/"] {
            let error = await #expect(throws: HTTPTransportError.self) {
                _ = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: url), proxies: ProxyEnvironment([:]))
            }
            #expect(error?.kind == .invalidRequest, "\(url)")
        }
    }
}

/// TLS and proxies against real peers: the Azure fake's HTTPS listener (a certificate for
/// 127.0.0.1 from its own CA) and a Python forward proxy.
@Suite("HTTP client: TLS and proxies", .enabled(if: TestEnvironment.shouldRunOracleTests("cryptography"), "needs the oracles: run scripts/test"))
struct HTTPClientTLSTests {
    @Test("TLS: the given CA is trusted; an unknown CA or another name is a TLS error that says what to set")
    func tls() async throws {
        let fake = try await AzureFake.start()
        let path = "/\(fake.tenant)/v2.0/.well-known/openid-configuration"
        let trusted = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpsURL + path, caBundlePath: fake.caCert), proxies: ProxyEnvironment([:]))
        #expect(trusted.status > 0)

        let untrusted = await #expect(throws: HTTPTransportError.self) {
            _ = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpsURL + path), proxies: ProxyEnvironment([:]))
        }
        #expect(untrusted?.kind == .tls)
        #expect(untrusted?.isRetryable == false)
        #expect(untrusted?.message.contains("not trusted") == true, "\(untrusted?.message ?? "")")
        #expect(untrusted?.message.contains("ca_cert") == true)
        #expect(untrusted?.tlsProblem == .untrustedCertificate)

        // A certificate for vault.internal and 127.0.0.1 only: by address it verifies, as
        // localhost it must not.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await OracleServer.start(script: "Tests/HTTPTransportTests/Oracle/tls_server.py", arguments: [directory.path])
        let ca = directory.appendingPathComponent("ca.pem").path
        let byAddress = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "https://127.0.0.1:\(server.port)/", caBundlePath: ca), proxies: ProxyEnvironment([:]))
        #expect(byAddress.status == 200 && byAddress.body == Array("ok".utf8))
        let misnamed = await #expect(throws: HTTPTransportError.self) {
            _ = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: "https://localhost:\(server.port)/", caBundlePath: ca), proxies: ProxyEnvironment([:]))
        }
        // localhost may resolve to ::1 first, where nothing listens; 127.0.0.1 is tried next.
        #expect(misnamed?.kind == .tls, "\(misnamed?.message ?? "")")
        #expect(misnamed?.message.contains("not valid for localhost") == true, "\(misnamed?.message ?? "")")
        #expect(misnamed?.tlsProblem == .nameMismatch)
    }

    @Test("HTTPS through a proxy's CONNECT tunnel, with credentials; plain HTTP in absolute form; a 407 is a clear error")
    func proxy() async throws {
        let fake = try await AzureFake.start()
        let proxy = try await OracleServer.start(script: "Tests/HTTPTransportTests/Oracle/connect_proxy.py", arguments: ["agent:pass word"])
        let path = "/\(fake.tenant)/v2.0/.well-known/openid-configuration"
        let direct = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpsURL + path, caBundlePath: fake.caCert), proxies: ProxyEnvironment([:]))

        let through = ProxyEnvironment(["https_proxy": "http://agent:pass%20word@127.0.0.1:\(proxy.port)", "http_proxy": "http://agent:pass%20word@127.0.0.1:\(proxy.port)"])
        let tunnelled = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpsURL + path, caBundlePath: fake.caCert), proxies: through)
        #expect(tunnelled.status == direct.status)
        #expect(tunnelled.body == direct.body)
        let plainDirect = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpURL + path), proxies: ProxyEnvironment([:]))
        let plain = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpURL + path), proxies: through)
        #expect(plain.status == plainDirect.status)
        #expect(plain.body == plainDirect.body)

        let log = String(decoding: try await HTTPClient.send(HTTPClientRequest(method: "GET", url: proxy.url + "/proxy/log"), proxies: ProxyEnvironment([:])).body, as: UTF8.self)
        #expect(log.contains("CONNECT 127.0.0.1:\(fake.server.port)"), "\(log)")
        #expect(log.contains("GET http://127.0.0.1:\(fake.server.port)\(path)"), "\(log)")

        let refused = await #expect(throws: HTTPTransportError.self) {
            _ = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: fake.httpsURL + path, caBundlePath: fake.caCert),
                                          proxies: ProxyEnvironment(["https_proxy": "http://agent:wrong@127.0.0.1:\(proxy.port)"]))
        }
        #expect(refused?.message.contains("407") == true, "\(refused?.message ?? "")")
    }
}

@Suite("certificate names")
struct CertificateNameTests {
    @Test("RFC 6125 matching: exact, or one leftmost wildcard label")
    func matching() {
        #expect(CertificateNames.matches("vault.example.com", host: "VAULT.example.com."))
        #expect(CertificateNames.matches("*.vault.azure.net", host: "myvault.vault.azure.net"))
        #expect(!CertificateNames.matches("*.vault.azure.net", host: "a.b.vault.azure.net"))
        #expect(!CertificateNames.matches("*.vault.azure.net", host: "vault.azure.net"))
        #expect(!CertificateNames.matches("*.com", host: "example.com"))
        #expect(!CertificateNames.matches("vault.example.com", host: "evil-vault.example.com"))
    }
}
