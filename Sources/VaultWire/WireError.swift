import ErrorKit

/// A request body that is not what the API takes: not JSON, a field of the wrong type, a required
/// field missing. The server answers it as a client error (``Code/badRequest`` 400,
/// ``Code/unprocessable`` 422); the message names the field and never echoes its value.
public typealias WireError = DomainError<WireErrors>

/// The codes of a request body the API refuses.
public enum WireErrors: ErrorDomain {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Not JSON, not an object, or a field of the wrong JSON type.
        public static let badRequest = Code("badRequest")
        /// Well-formed, but a field is missing, not allowed, or out of range.
        public static let unprocessable = Code("unprocessable")
    }
}
