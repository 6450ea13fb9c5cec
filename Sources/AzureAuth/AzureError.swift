import ErrorKit

/// An Azure failure with its class (`.retryable`, `.needsFix`, or `.notFound` for a secret or
/// key that does not exist). Messages name the setting or permission to change and never carry
/// a secret or a token; `serviceCode` is Azure's error code (`SecretNotFound`, `Forbidden`,
/// `invalid_client`) when it sent one.
public typealias AzureError = DomainError<AzureErrors>

public enum AzureErrors: RemoteServiceErrors {
    public typealias Code = FailureClass
    public typealias Detail = String
}
