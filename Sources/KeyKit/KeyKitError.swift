/// What went wrong with a key or an operation. `message` never contains key material, a
/// plaintext or a mnemonic.
public struct KeyKitError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
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
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { message }
}
