/// Where a vault listens: `unix:///run/vaultd/vaultd.sock`, `http://127.0.0.1:8200` or
/// `https://vault.example:8200` (the `VAULT_ADDR` forms).
public struct VaultAddress: Sendable, Equatable, CustomStringConvertible {
    /// The URL prefix requests go to (`http://localhost` for Unix sockets).
    public let baseURL: String
    /// The socket for `unix://` addresses.
    public let unixSocketPath: String?

    public init(_ text: String) throws {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw HTTPTransportError(kind: .invalidRequest, message: "a unix address needs an absolute path: unix:///run/vaultd/vaultd.sock")
            }
            baseURL = "http://localhost"
            unixSocketPath = path
        } else if text.hasPrefix("http://") || text.hasPrefix("https://") {
            var trimmed = text
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            baseURL = trimmed
            unixSocketPath = nil
        } else {
            throw HTTPTransportError(kind: .invalidRequest, message: "'\(text)' is not an address: use unix:///path, http://host:port or https://host:port")
        }
    }

    public var description: String {
        if let unixSocketPath { return "unix://\(unixSocketPath)" }
        return baseURL
    }
}
