import Foundation
import TestSupport
import Testing

/// The listener's timeouts across keep-alive requests. Every request moves a connection's
/// deadline twice, and the one timer behind it is only moved when a deadline comes before it
/// (RequestTimeoutHandler): a deadline that did not move would close a busy connection, and a
/// timer left at a later deadline would give a stalled body the idle time instead of the read
/// time. Bounds are wide (seconds apart), so a slow machine cannot fail them.
@Suite("connection timeouts across keep-alive requests")
struct ConnectionTimeoutTests {
    static let idle = 6.0, read = 1.0

    /// Sends `text` on `fd`; then reads until a complete response (a `Content-Length` body)
    /// or EOF. Returns the response's status line, or nil at EOF.
    static func exchange(_ fd: Int32, _ text: String) -> String? {
        _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return nil }
            received += buffer[0..<count]
            let text = String(decoding: received, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<end.lowerBound]
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if text.utf8.count - text[..<end.upperBound].utf8.count >= length { return String(head.prefix { $0 != "\r" }) }
        }
    }

    /// Whether the server has closed `fd` (EOF readable), polling until `seconds` pass.
    static func closed(_ fd: Int32, within seconds: Double) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(seconds * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    static let health = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n"

    @Test("requests keep a connection open past http_idle_timeout; silence closes it; a stalled body after an idle spell gets http_read_timeout")
    func keepAlive() async throws {
        let port = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n  http_idle_timeout = \"6s\"\n  http_read_timeout = \"1s\"\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        async let busy: Bool = TestEnvironment.offThePool {
            // 16 requests 0.5 s apart: 8 s, past the idle timeout; every one answered.
            let fd = loopbackConnection(port: port, sending: "")
            defer { close(fd) }
            for _ in 0..<16 {
                guard Self.exchange(fd, Self.health) != nil else { return false }
                usleep(500_000)
            }
            return true
        }
        async let silent: (openAt2s: Bool, closedBy9s: Bool) = TestEnvironment.offThePool {
            let fd = loopbackConnection(port: port, sending: "")
            defer { close(fd) }
            _ = Self.exchange(fd, Self.health)
            return (!Self.closed(fd, within: 2), Self.closed(fd, within: 7))
        }
        async let stalled: (closedBy4s: Bool, answered: Bool) = TestEnvironment.offThePool {
            let fd = loopbackConnection(port: port, sending: "")
            defer { close(fd) }
            let answered = Self.exchange(fd, Self.health) != nil
            usleep(500_000)
            // A head announcing a body that never comes: the read timeout (1 s) applies, not
            // what is left of the idle one (5.5 s).
            _ = "PUT /v1/sys/init HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            return (Self.closed(fd, within: 3.5), answered)
        }
        #expect(try await busy, "a connection sending a request every 0.5 s was closed")
        let (openAt2s, closedBy9s) = try await silent
        #expect(openAt2s, "closed before http_idle_timeout")
        #expect(closedBy9s, "still open well after http_idle_timeout")
        let (closedBy4s, answered) = try await stalled
        #expect(answered)
        #expect(closedBy4s, "a stalled body after an idle spell was not closed by http_read_timeout")
    }
}
