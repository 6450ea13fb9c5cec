import ErrorKit

/// An AWS failure with its class: transient (retry with backoff) or needing a fix (log once,
/// retry slowly). Messages name the setting or permission to change, never a secret. The
/// detail is the AWS error code (`AccessDeniedException`) when the service sent one.
public typealias AWSError = DomainError<AWSErrors>

public enum AWSErrors: ErrorDomain {
    /// Only `.retryable` or `.needsFix` here.
    public typealias Code = FailureClass
    public typealias Detail = String
}

extension AWSError {
    public init(_ errorClass: FailureClass, code serviceCode: String?, _ message: String, file: String = #fileID, line: UInt = #line) {
        self.init(errorClass, message, detail: serviceCode, file: file, line: line)
    }

    /// The AWS error code, when the service sent one.
    public var serviceCode: String? { detail }
}
