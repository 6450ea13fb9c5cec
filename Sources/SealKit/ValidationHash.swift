import Crypto

/// The Provide vault's seal-key fingerprint: `"0x" + hex(SHA-256(phrase))`, where the phrase is
/// the 24 words joined by single spaces.
///
/// A vault configured with one refuses a pushed key that does not match, before it tries any
/// decryption, so a wrong key can never be mistaken for corrupt data.
public struct ValidationHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let digest: [UInt8]

    /// The hash of a phrase (normalised first, so spacing and case do not matter).
    public init(phrase: String) {
        let canonical = BIP39.canonicalPhrase(phrase)
        digest = Array(SHA256.hash(data: Array(canonical.utf8)))
    }

    /// Parses `0x` followed by 64 hex digits (either case; the `0x` is optional).
    public init(parsing text: String) throws(SealKitError) {
        var body = Substring(text.trimmingWhitespace())
        if body.hasPrefix("0x") || body.hasPrefix("0X") { body = body.dropFirst(2) }
        guard body.count == 64, let bytes = Hex.decode(body) else {
            throw SealKitError(
                .invalidValidationHash,
                "a validation hash is \"0x\" followed by 64 hex digits (SHA-256 of the phrase)"
            )
        }
        digest = bytes
    }

    /// The canonical text form, `0x` and lower-case hex.
    public var description: String { "0x" + Hex.encode(digest) }

    /// Whether `key` has this hash, compared in constant time.
    public func matches(_ key: borrowing SealKey) -> Bool {
        let candidate = key.validationHash()
        return ConstantTime.equals(candidate.digest, digest)
    }

    /// Equality in constant time.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        ConstantTime.equals(lhs.digest, rhs.digest)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(digest) }
}

extension String {
    func trimmingWhitespace() -> Substring {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return slice
    }
}
