import ErrorKit

/// An AWS failure with its class: transient (retry with backoff) or needing a fix (log once,
/// retry slowly). Messages name the setting or permission to change, never a secret.
public struct AWSError: Error, Sendable, CustomStringConvertible {
    /// Only `.retryable` or `.needsFix` here.
    public typealias Class = FailureClass
    public let errorClass: Class
    /// The AWS error code (`AccessDeniedException`) when the service sent one.
    public let code: String?
    public let message: String

    public init(_ errorClass: Class, code: String? = nil, _ message: String) {
        self.errorClass = errorClass
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
