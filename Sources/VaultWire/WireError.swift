/// A request body that is not what the API takes: not JSON, a field of the wrong type, a required
/// field missing. The server answers it as a client error (``Code/badRequest`` 400,
/// ``Code/unprocessable`` 422); the message names the field and never echoes its value.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Not JSON, not an object, or a field of the wrong JSON type.
        public static let badRequest = Code("badRequest")
        /// Well-formed, but a field is missing, not allowed, or out of range.
        public static let unprocessable = Code("unprocessable")
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: UInt

    public init(_ code: Code, _ message: String, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { message }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
