#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading secrets from standard input, so they never appear in `ps` or shell history.
public enum SecretInput {
    /// All of standard input with one trailing newline removed, or `nil` when stdin is a
    /// terminal and nothing should be read from it.
    public static func readStandardInput(allowTerminal: Bool = false) -> String? {
        if !allowTerminal && isatty(STDIN_FILENO) != 0 { return nil }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        for index in buffer.indices { buffer[index] = 0 }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        return String(decoding: bytes, as: UTF8.self)
    }
}
