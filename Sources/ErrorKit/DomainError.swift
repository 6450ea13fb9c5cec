/// The project's one error shape, in swift-certificates' style: a ``Code`` a program matches
/// on, a message a person can act on, the file and line that raised it, and — for domains that
/// have one — a detail (a cloud service's own error code, the setting to change).
///
/// Each module names its errors as a domain — `typealias VaultError = DomainError<VaultErrors>`
/// — whose `Code` lists what can go wrong there; equality, hashing and printing are written once,
/// here. Messages never contain key material, tokens or secret values.
public struct DomainError<Domain: ErrorDomain>: Error, Hashable, Sendable, CustomStringConvertible {
    public typealias Code = Domain.Code

    public typealias Detail = Domain.Detail

    public let code: Code
    public let message: String
    /// What the domain adds (``ErrorDomain/Detail``); nil when there is nothing to add.
    public let detail: Detail?
    public let file: String
    public let line: UInt

    public init(_ code: Code, _ message: String, detail: Detail? = nil, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.detail = detail
        self.file = file
        self.line = line
    }

    /// The message (swift-certificates' word for it).
    public var reason: String { message }

    /// What an operator reads: the message, as the domain presents it with its detail.
    public var description: String { Domain.describe(message, detail: detail) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.detail == rhs.detail
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(detail)
    }
}

/// A module's family of errors: what its codes are, and what detail an error may carry.
public protocol ErrorDomain {
    associatedtype Code: Hashable, Sendable, CustomStringConvertible
    associatedtype Detail: Hashable, Sendable = Never

    /// How an error of this domain reads; the message alone unless the domain says otherwise
    /// (a configuration error puts its `file:line:column` first).
    static func describe(_ message: String, detail: Detail?) -> String
}

extension ErrorDomain {
    public static func describe(_ message: String, detail: Detail?) -> String { message }
}

extension DomainError where Code == FailureClass {
    /// For domains whose codes are classes of failure (the clouds, the seal sources).
    public var errorClass: FailureClass { code }
}

/// A domain of failures answered by a remote service (AWS, Azure): the code is the class, the
/// detail the service's own error code.
public protocol RemoteServiceErrors: ErrorDomain where Code == FailureClass, Detail == String {}

extension DomainError where Domain: RemoteServiceErrors {
    /// A remote service's failure: its class, the service's own error code when it sent one
    /// (`AccessDeniedException`, `SecretNotFound`), and a message.
    public init(_ errorClass: FailureClass, code serviceCode: String?, _ message: String, file: String = #fileID, line: UInt = #line) {
        self.init(errorClass, message, detail: serviceCode, file: file, line: line)
    }

    /// The service's own error code, when it sent one.
    public var serviceCode: String? { detail }
}

/// Whether waiting can help — decided once where a failure is understood (an AWS or Azure
/// answer, a seal source, a vault's answer) and carried unchanged from there to the agent's
/// retry policy, logs and metrics.
public enum FailureClass: String, Sendable, Hashable, CustomStringConvertible {
    /// Transient: connection, time-out, 5xx, throttling. Retry with backoff.
    case retryable
    /// Will not change until someone fixes the configuration, a permission or the secret.
    case needsFix
    /// The thing does not exist yet (a file absent, a secret not found): autonomous init may
    /// create it.
    case notFound
    /// A vault that was initialised with this material reports itself uninitialised: its
    /// storage was lost or replaced. Needs an operator; never answered with a new init.
    case storageLost

    public var description: String { rawValue }
}
