import LeanFoundation

#if canImport(Glibc)
import Glibc
#endif

/// Notices the moment a server goes away, without polling it: holds an idle connection open and
/// waits in `poll(2)` for the kernel to report it closed. A restarting vault closes every
/// connection as its process exits, so the watcher wakes within microseconds of the crash or
/// shutdown — not after a polling interval.
public enum ConnectionWatch {
    public enum Outcome: Sendable, Equatable {
        /// The server closed the connection (exited, restarted, or dropped an idle client).
        case closed
        /// Nothing happened within the interval: the caller re-checks and watches again.
        case intervalElapsed
        /// No connection could be made.
        case unreachable
    }

    /// Connects to `address` and waits up to `interval` for the connection to close.
    public static func waitForClose(_ address: VaultAddress, interval: Duration) async -> Outcome {
        await DetachedThread.run { watch(address, interval: interval) }
    }

    private static func watch(_ address: VaultAddress, interval: Duration) -> Outcome {
        let fd = connect(address)
        guard fd >= 0 else { return .unreachable }
        defer { close(fd) }
        let deadline = ContinuousClock.now + interval
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return .intervalElapsed }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN) | pollReadHangUp, revents: 0)
            let milliseconds = Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed
            }
            if ready == 0 { continue }
            if descriptor.revents & (Int16(POLLHUP | POLLERR) | pollReadHangUp) != 0 { return .closed }
            // Readable: a server sends nothing unasked, so this is EOF (or a goodbye response).
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count <= 0 { return .closed }
        }
    }

    /// For Unix-socket addresses, whether a connection is accepted right now (a connect on a
    /// local socket never blocks); `nil` for TCP addresses, which cannot be probed that cheaply.
    public static func unixSocketAcceptsConnections(_ address: VaultAddress) -> Bool? {
        guard address.unixSocketPath != nil else { return nil }
        let fd = connect(address)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// A connected socket, or -1.
    private static func connect(_ address: VaultAddress) -> Int32 {
        if let path = address.unixSocketPath {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return -1 }
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: socketAddress.sun_path) else {
                close(fd)
                return -1
            }
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
                raw.copyBytes(from: bytes)
            }
            let result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if result != 0 {
                close(fd)
                return -1
            }
            return fd
        }
        guard let components = URLComponents(string: address.baseURL), let host = components.host else { return -1 }
        let port = components.port ?? (components.scheme == "https" ? 443 : 80)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host, String(port), &hints, &result) == 0, let first = result else { return -1 }
        defer { freeaddrinfo(result) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                close(fd)
            }
            entry = info.pointee.ai_next
        }
        return -1
    }
}

/// `POLLRDHUP` (Linux): the peer closed its end. Glibc hides it behind `_GNU_SOURCE`.
private let pollReadHangUp: Int16 = 0x2000
