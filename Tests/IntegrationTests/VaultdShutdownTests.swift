import Foundation
import TestSupport
import Testing

/// vaultd stopping while clients are still connecting: the agent polls the socket, so a
/// SIGTERM nearly always meets connections accepted but not yet served.
@Suite("vaultd shutdown")
struct VaultdShutdownTests {
    @Test("SIGTERM during a flood of connections: exit 0 and no crash report, round after round")
    func sigtermUnderConnections() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let rounds = 12
        var clean = 0
        for round in 1...rounds {
            try await vaultd.start()
            let flood = ConnectionFlood(socketPath: vaultd.socketPath)
            flood.start()
            // Let the flood reach the accept queue, then stop vaultd in the middle of it.
            _ = await eventually { flood.connected >= 50 }
            try await Task.sleep(for: .milliseconds(UInt64(round % 4) * 15))
            let status = try await vaultd.stop(signal: SIGTERM)
            flood.stop()
            let log = vaultd.log()
            #expect(status == 0, "round \(round): exit status \(status)")
            #expect(!log.contains("Fatal error"), "round \(round): \(vaultd.log(tail: 5))")
            if status == 0 && !log.contains("Fatal error") { clean += 1 }
            try Data().write(to: URL(fileURLWithPath: vaultd.logPath))
        }
        print("vaultd SIGTERM under a connection flood: \(clean)/\(rounds) clean exits")
    }
}

/// Opens connections to a Unix socket as fast as it can on a thread of its own, each sending
/// one request, keeping up to `maxOpen` open; stops by itself after `limit` attempts.
final class ConnectionFlood: @unchecked Sendable {
    private let socketPath: String
    private let maxOpen: Int
    private let limit: Int
    private let lock = NSLock()
    private var stopping = false
    private var _connected = 0
    private let done = DispatchSemaphore(value: 0)

    init(socketPath: String, maxOpen: Int = 200, limit: Int = 20_000) {
        self.socketPath = socketPath
        self.maxOpen = maxOpen
        self.limit = limit
    }

    var connected: Int { lock.withLock { _connected } }

    /// Whether the flood has made all its attempts (or was stopped).
    var finished: Bool {
        guard done.wait(timeout: .now()) == .success else { return false }
        done.signal()
        return true
    }

    func start() {
        Thread.detachNewThread { [self] in
            var open: [Int32] = []
            let request = Array("GET /v1/sys/seal-status HTTP/1.1\r\nHost: vaultd\r\n\r\n".utf8)
            for _ in 0..<limit {
                if lock.withLock({ stopping }) { break }
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                guard fd >= 0 else { break }
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                    for (index, byte) in socketPath.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
                }
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
                if result == 0 {
                    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    open.append(fd)
                    lock.withLock { _connected += 1 }
                } else {
                    close(fd)
                    usleep(1_000)
                }
                if open.count >= maxOpen { close(open.removeFirst()) }
            }
            for fd in open { close(fd) }
            done.signal()
        }
    }

    /// Stops the flood and waits (bounded) for its thread to close every connection.
    func stop() {
        lock.withLock { stopping = true }
        _ = done.wait(timeout: .now() + 10)
    }
}
