import ErrorKit

/// What went wrong with a key or an operation. `message` never contains key material, a
/// plaintext or a mnemonic.
public typealias KeyKitError = DomainError<KeyKitErrors>

/// KeyKit's error codes, each with the HTTP status vaultd answers it with.
public enum KeyKitErrors: ErrorDomain {
    public enum Code: String, Sendable, CustomStringConvertible {
        /// The request is wrong (a bad path, a wrong length, an unknown algorithm): 422.
        case invalidInput
        /// Key material that is not a valid key: 422.
        case invalidKey
        /// A signature or ciphertext that fails authentication: 422 (never a 500).
        case invalidSignature
        /// The key cannot do this (a sign-only key asked to encrypt): 422.
        case unsupported
        /// The crypto library failed where it should not: 500.
        case cryptoFailure

        public var description: String { rawValue }
    }
}

