import ErrorKit

/// A place in a configuration file: `file:line:column`, 1-based, columns counted in characters.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A configuration error: where it is, what was expected, and a ``Code`` programs can match.
///
/// ```
/// /etc/vaultd/vaultd.hcl:4:17: listener "unix": socket_mode: expected a string, found a number
/// ```
public typealias HCLError = DomainError<HCLErrors>

/// The configuration language's error codes; an error's detail is where it is.
public enum HCLErrors: ErrorDomain {
    public typealias Detail = SourceLocation

    public static func describe(_ message: String, detail: SourceLocation?) -> String {
        detail.map { "\($0): \(message)" } ?? message
    }

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The text is not HCL (or JSON): a token where another was expected.
        public static let syntax = Code("syntax")
        /// The same attribute or object key twice in one body.
        public static let duplicate = Code("duplicate")
        /// A value of the wrong type for its setting.
        public static let type = Code("type")
        /// A setting the program does not know (often a typo).
        public static let unknownKey = Code("unknownKey")
        /// A required setting is absent.
        public static let missing = Code("missing")
        /// A value of the right type that is not allowed.
        public static let invalidValue = Code("invalidValue")
        /// Nesting deeper than the parser accepts.
        public static let tooDeep = Code("tooDeep")
        /// The file could not be read.
        public static let io = Code("io")
    }
}

extension HCLError {
    public init(_ code: Code, at location: SourceLocation, _ message: String, file: String = #fileID, line: UInt = #line) {
        self.init(code, message, detail: location, file: file, line: line)
    }

    /// Where in the configuration the error is.
    public var location: SourceLocation { detail ?? SourceLocation(file: "", line: 0, column: 0) }
}
