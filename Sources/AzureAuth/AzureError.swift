import ErrorKit

/// An Azure failure with its class. Messages name the setting or permission to change and
/// never carry a secret or a token.
public struct AzureError: Error, Sendable, CustomStringConvertible {
    /// `.retryable`, `.needsFix`, or `.notFound` for a secret or key that does not exist (404).
    public typealias Class = FailureClass

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
