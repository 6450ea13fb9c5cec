import ErrorKit

/// An error the vault reports to its caller: a ``Code`` (VaultServer maps it to an HTTP status),
/// and a message safe to return and to log (it never contains key material, tokens or secret
/// values).
public typealias VaultError = DomainError<VaultErrors>

/// The vault's error codes.
public enum VaultErrors: ErrorDomain {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The request is malformed or its values are out of range.
        public static let badRequest = Code("badRequest")
        /// A pushed key or share is not the vault's (validation hash or decryption failed).
        public static let wrongKey = Code("wrongKey")
        /// No token, or a token the vault does not know.
        public static let permissionDenied = Code("permissionDenied")
        /// The named vault or secret does not exist.
        public static let notFound = Code("notFound")
        /// The vault is already initialised, or another init is running.
        public static let conflict = Code("conflict")
        /// The body is larger than allowed.
        public static let tooLarge = Code("tooLarge")
        /// The request is well formed but a field is missing or invalid.
        public static let unprocessable = Code("unprocessable")
        /// Too many wrong keys from this peer: wait.
        public static let rateLimited = Code("rateLimited")
        /// The vault is sealed (or not initialised) and cannot serve data.
        public static let sealed = Code("sealed")
        /// The vault is not initialised.
        public static let notInitialized = Code("notInitialized")
        /// Storage failed or stored data is corrupt.
        public static let internalError = Code("internalError")
        /// The storage cannot be trusted (its file deleted, replaced or damaged): nothing is written.
        public static let storageUnavailable = Code("storageUnavailable")
        /// This node is not the active one on shared storage (a standby, or it lost leadership):
        /// nothing was written.
        public static let notActive = Code("notActive")
    }

}

extension VaultError {
    static var sealedVault: VaultError { VaultError(.sealed, "vault is sealed") }
}
