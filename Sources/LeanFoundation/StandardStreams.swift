#if canImport(Glibc)
import Glibc
#endif

/// Whole reads and writes on file descriptors (standard input, output and error) and whole
/// files: what Foundation's `FileHandle` and `Data(contentsOf:)` did here, with `EINTR` and
/// short writes handled and the `errno` kept for the message.
public enum StandardStreams {
    /// The `errno` that stopped a read (`EISDIR`, `EIO`, …).
    public struct ReadError: Error, Sendable {
        public let code: Int32
    }

    /// Everything until end of file.
    public static func readAll(_ descriptor: Int32 = 0) throws(ReadError) -> [UInt8] {
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(code: errno)
            }
            if count == 0 { return collected }
            collected += buffer[0..<count]
        }
    }

    /// The whole file at `path`.
    public static func readFile(_ path: String) throws(ReadError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ReadError(code: errno) }
        defer { close(descriptor) }
        return try readAll(descriptor)
    }

    /// Writes all of `bytes`; `false` when the descriptor refuses (a closed pipe: `EPIPE` when
    /// SIGPIPE is ignored).
    @discardableResult
    public static func write(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return false }
            written += count
        }
        return true
    }

    @discardableResult
    public static func write(_ text: String, to descriptor: Int32) -> Bool {
        write(Array(text.utf8), to: descriptor)
    }
}
