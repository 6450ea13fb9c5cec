import ErrorKit

/// An error from SealKit: what went wrong (``Code``), a reason a person can act on, and where
/// it was raised.
///
/// Reasons never contain key material. A BIP39 error may name a word that is *not* in the
/// wordlist (so it is not part of any valid phrase) and its position; callers that handle keys
/// pushed over the network return the reason to the caller and never log it.
public typealias SealKitError = DomainError<SealKitErrors>

/// SealKit's error codes.
public enum SealKitErrors: ErrorDomain {
    /// The kind of failure, stable for programs to match on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Text that is not a phrase, base64 or hex of the right length.
        public static let invalidKeyEncoding = Code("invalidKeyEncoding")
        /// A word that is not in the BIP39 English wordlist.
        public static let unknownWord = Code("unknownWord")
        /// A phrase with the wrong number of words.
        public static let wrongWordCount = Code("wrongWordCount")
        /// A phrase whose checksum bits do not match its entropy.
        public static let checksumMismatch = Code("checksumMismatch")
        /// Entropy of a length BIP39 does not define.
        public static let invalidEntropyLength = Code("invalidEntropyLength")
        /// A validation hash that is not `0x` followed by 64 hex digits.
        public static let invalidValidationHash = Code("invalidValidationHash")
        /// Shamir parameters out of range.
        public static let invalidShamirParameters = Code("invalidShamirParameters")
        /// Stored key material that is empty, or a share list that is not a JSON list of strings.
        public static let invalidMaterial = Code("invalidMaterial")
        /// A share that is too short, of a different length, or has x = 0.
        public static let malformedShare = Code("malformedShare")
        /// Two shares with the same x coordinate.
        public static let duplicateShare = Code("duplicateShare")
        /// The operating system refused memory or randomness.
        public static let systemFailure = Code("systemFailure")
        /// A cloaked value failed to authenticate (memory corruption).
        public static let cloakingFailure = Code("cloakingFailure")
    }
}
