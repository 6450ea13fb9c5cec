/// An error the vault reports to its caller: a ``Code`` that decides the HTTP status, and a
/// message safe to return and to log (it never contains key material, tokens or secret values).
public struct VaultError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// The HTTP status this code maps to.
        public let httpStatus: Int
        private init(_ name: String, _ httpStatus: Int) {
            self.name = name
            self.httpStatus = httpStatus
        }
        public var description: String { name }

        /// The request is malformed or its values are out of range.
        public static let badRequest = Code("badRequest", 400)
        /// A pushed key or share is not the vault's (validation hash or decryption failed).
        public static let wrongKey = Code("wrongKey", 400)
        /// No token, or a token the vault does not know.
        public static let permissionDenied = Code("permissionDenied", 403)
        /// The named vault or secret does not exist.
        public static let notFound = Code("notFound", 404)
        /// The vault is already initialised, or another init is running.
        public static let conflict = Code("conflict", 400)
        /// The body is larger than allowed.
        public static let tooLarge = Code("tooLarge", 413)
        /// The request is well formed but a field is missing or invalid.
        public static let unprocessable = Code("unprocessable", 422)
        /// Too many wrong keys from this peer: wait.
        public static let rateLimited = Code("rateLimited", 429)
        /// The vault is sealed (or not initialised) and cannot serve data.
        public static let sealed = Code("sealed", 503)
        /// The vault is not initialised.
        public static let notInitialized = Code("notInitialized", 400)
        /// Storage failed or stored data is corrupt.
        public static let internalError = Code("internalError", 500)
        /// The storage cannot be trusted (its file deleted, replaced or damaged): nothing is written.
        public static let storageUnavailable = Code("storageUnavailable", 503)
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

    static let sealedVault = VaultError(.sealed, "vault is sealed")
}
