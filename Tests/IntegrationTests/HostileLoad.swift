import Foundation
import TestSupport

/// Idle TCP connections to a loopback port, held by a helper process (`Oracle/tcp_flood.py`)
/// until ``close()``: the load that exhausted vaultd's and the agent's descriptors. Not in the
/// test runner itself: with thousands of descriptors open there, Foundation's `Process.run()`
/// (which reads /proc/self/fd when it spawns) crashed a parallel test. Bounded by `count` and by
/// the helper's own 180 s lifetime; nothing is sent (or, with `partialHeader`, a request head
/// that never ends).
final class TCPFlood: @unchecked Sendable {
    private let port: Int
    private let count: Int
    private let partialHeader: Bool
    private let statusFile: String
    private var helper: OracleServer?

    init(port: Int, count: Int, partialHeader: Bool = false) {
        self.port = port
        self.count = count
        self.partialHeader = partialHeader
        statusFile = FileManager.default.temporaryDirectory.appendingPathComponent("flood-\(UUID().uuidString.prefix(8))").path
    }

    /// Opens the connections; returns how many connected.
    @discardableResult
    func open() async -> Int {
        helper = try? await OracleServer.start(script: "Tests/IntegrationTests/Oracle/tcp_flood.py",
                                               arguments: [String(port), String(count), statusFile] + (partialHeader ? ["partial"] : []))
        return status().opened
    }

    private func status() -> (opened: Int, held: Int) {
        let words = ((try? String(contentsOfFile: statusFile, encoding: .utf8)) ?? "").split(separator: " ")
        guard words.count >= 4 else { return (0, 0) }
        return (Int(words[1].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, Int(words[3].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
    }

    /// How many of the connections the server still holds open (as of the helper's last look,
    /// at most half a second old).
    func held() -> Int { status().held }

    /// The helper's count after it has looked again (waits for its next status line).
    func heldNow() async -> Int {
        let before = (try? FileManager.default.attributesOfItem(atPath: statusFile)[.modificationDate] as? Date) ?? nil
        _ = await eventually {
            let now = (try? FileManager.default.attributesOfItem(atPath: statusFile)[.modificationDate] as? Date) ?? nil
            return now != before
        }
        return held()
    }

    func close() {
        helper = nil   // SIGKILL: the helper's connections close with it
        try? FileManager.default.removeItem(atPath: statusFile)
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

/// A blocking TCP connection to 127.0.0.1:`port` (from source address `source`, another
/// loopback address, when given) that has sent `text`; the descriptor, or -1 when it could not
/// connect. The caller closes it. Call it off the cooperative pool (`TestEnvironment.offThePool`).
func loopbackConnection(port: Int, from source: String? = nil, sending text: String) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    if let source {
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
        close(fd)
        return -1
    }
    _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    return fd
}
