import ErrorKit

/// An AWS failure with its class: transient (retry with backoff) or needing a fix (log once,
/// retry slowly) — only those two here. Messages name the setting or permission to change, never
/// a secret; `serviceCode` is the AWS error code (`AccessDeniedException`) when AWS sent one.
public typealias AWSError = DomainError<AWSErrors>

public enum AWSErrors: RemoteServiceErrors {
    public typealias Code = FailureClass
    public typealias Detail = String
}
