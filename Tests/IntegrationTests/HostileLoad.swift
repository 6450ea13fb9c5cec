import Foundation
import TestSupport

/// Idle TCP connections to a loopback port, opened on a thread of their own and held until
/// ``close()``: the load that exhausted vaultd's and the agent's descriptors. Bounded by
/// `count`; nothing is sent (or, with `partialHeader`, a request head that never ends).
final class TCPFlood: @unchecked Sendable {
    private let port: Int
    private let count: Int
    private let partialHeader: Bool
    private let lock = NSLock()
    private var descriptors: [Int32] = []

    init(port: Int, count: Int, partialHeader: Bool = false) {
        self.port = port
        self.count = count
        self.partialHeader = partialHeader
    }

    /// Opens the connections (blocking connects on loopback); returns how many connected.
    @discardableResult
    func open() async -> Int {
        let port = self.port, count = self.count, partial = partialHeader
        let opened: [Int32] = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var opened = [Int32]()
                for _ in 0..<count {
                    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                    guard fd >= 0 else { break }
                    var address = sockaddr_in()
                    address.sin_family = sa_family_t(AF_INET)
                    address.sin_port = in_port_t(UInt16(port).bigEndian)
                    address.sin_addr.s_addr = inet_addr("127.0.0.1")
                    let connected = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                    guard connected == 0 else { Glibc.close(fd); continue }
                    if partial { _ = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
                    opened.append(fd)
                }
                continuation.resume(returning: opened)
            }
        }
        lock.withLock { descriptors += opened }
        return opened.count
    }

    /// How many of the connections the server still holds open (not closed by it).
    func held() -> Int {
        lock.withLock {
            descriptors.filter { fd in
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 0) == 1 else { return true }   // nothing to read: still open
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
            }.count
        }
    }

    func close() {
        let all = lock.withLock { () -> [Int32] in defer { descriptors = [] }; return descriptors }
        for fd in all { Glibc.close(fd) }
    }

    deinit { close() }
}

/// Resident memory of a process, in kB (`VmRSS`).
func residentKilobytes(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// The number of descriptors a process has open.
func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
}
