import Foundation
import HTTPTransport
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

@Suite("libcurl transport")
struct CurlTransportTests {
    @Test("a server that accepts and never answers fails at the deadline")
    func deadline() async throws {
        let server = try SilentServer()
        for milliseconds in [300, 800] {
            let started = ContinuousClock.now
            let error = await #expect(throws: HTTPTransportError.self) {
                _ = try await CurlTransport.send(HTTPClientRequest(
                    method: "GET", url: "http://127.0.0.1:\(server.port)/v1/sys/seal-status",
                    timeout: .milliseconds(milliseconds)
                ))
            }
            let wall = ContinuousClock.now - started
            let elapsed = error?.elapsed ?? .zero
            print("deadline \(milliseconds) ms: libcurl gave up after \(elapsed); the awaiting task resumed after \(wall)")
            #expect(error?.kind == .timedOut)
            #expect(error?.isRetryable == true)
            #expect(elapsed >= .milliseconds(milliseconds - 5))
            #expect(elapsed <= .milliseconds(milliseconds + 100), "the deadline fired late: \(elapsed)")
            // The task's own resumption can lag when a parallel test run keeps both cooperative
            // threads busy; this bound only catches a hang.
            #expect(wall < .seconds(30))
        }
    }

    @Test("nothing listening: a quick, retryable connection error")
    func refused() async throws {
        // A port that was just listening and is now closed (the server is released here).
        let port = try { try SilentServer().port }()
        let error = await #expect(throws: HTTPTransportError.self) {
            _ = try await CurlTransport.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/"))
        }
        #expect(error?.kind == .couldNotConnect)
        let missing = await #expect(throws: HTTPTransportError.self) {
            _ = try await CurlTransport.send(HTTPClientRequest(method: "GET", url: "http://localhost/", unixSocketPath: "/nonexistent/vaultd.sock"))
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
