/// An Azure failure with its class. Messages name the setting or permission to change and
/// never carry a secret or a token.
public struct AzureError: Error, Sendable, CustomStringConvertible {
    public enum Class: Sendable {
        /// Transient: connection, time-out, 5xx, throttling.
        case retryable
        /// Will not change until someone fixes the configuration or a permission.
        case needsFix
        /// The secret or key does not exist (404): autonomous init may create it.
        case notFound
    }

    public let errorClass: Class
    /// Azure's error code (`SecretNotFound`, `Forbidden`, `invalid_client`) when it sent one.
    public let code: String?
    public let message: String

    public init(_ errorClass: Class, code: String? = nil, _ message: String) {
        self.errorClass = errorClass
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
