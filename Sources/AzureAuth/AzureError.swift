import ErrorKit

/// An Azure failure with its class (`.retryable`, `.needsFix`, or `.notFound` for a secret or
/// key that does not exist). Messages name the setting or permission to change and never carry
/// a secret or a token. The detail is Azure's error code (`SecretNotFound`, `Forbidden`,
/// `invalid_client`) when it sent one.
public typealias AzureError = DomainError<AzureErrors>

public enum AzureErrors: ErrorDomain {
    public typealias Code = FailureClass
    public typealias Detail = String
}

extension AzureError {
    public init(_ errorClass: FailureClass, code serviceCode: String?, _ message: String, file: String = #fileID, line: UInt = #line) {
        self.init(errorClass, message, detail: serviceCode, file: file, line: line)
    }

    /// Azure's error code, when it sent one.
    public var serviceCode: String? { detail }
}
