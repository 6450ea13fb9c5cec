#if canImport(Glibc)
import Glibc
#endif

/// Whole reads and writes on file descriptors (standard input, output and error): what
/// Foundation's `FileHandle` did here, with `EINTR` and short writes handled.
public enum StandardStreams {
    /// Everything until end of file.
    public static func readAll(_ descriptor: Int32 = 0) -> [UInt8] {
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return collected }
            collected += buffer[0..<count]
        }
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
