import LeanFoundation

/// The 32-byte key that seals a vault: every vault master key is encrypted under it.
///
/// Its human form is a 24-word BIP39 phrase; wherever a key is accepted, standard padded
/// base64 and hex (64 digits, optional `0x`) are accepted too. The bytes live in
/// ``SecretBytes`` and the type is `~Copyable`.
public struct SealKey: ~Copyable, Sendable {
    /// Seal keys are 256 bits.
    public static let byteCount = 32

    /// The forms a key can be written in.
    public enum Encoding: String, Sendable, CaseIterable {
        case phrase, base64, hex
    }

    private let bytes: SecretBytes

    /// A fresh key from the system CSPRNG.
    public static func generate() throws(SealKitError) -> SealKey {
        SealKey(validated: try SecretBytes.random(count: byteCount))
    }

    /// Takes ownership of exactly 32 bytes.
    public init(bytes: consuming SecretBytes) throws(SealKitError) {
        guard bytes.count == Self.byteCount else {
            throw SealKitError(.invalidKeyEncoding, "a seal key is \(Self.byteCount) bytes; got \(bytes.count)")
        }
        self.bytes = bytes
    }

    private init(validated bytes: consuming SecretBytes) {
        self.bytes = bytes
    }

    /// Parses a key written as a BIP39 phrase, base64 or hex, telling them apart by shape:
    /// whitespace-separated words are a phrase, 64 hex digits (optionally `0x`) are hex, anything
    /// else is tried as base64.
    ///
    /// Errors describe the expected forms and never echo the input.
    public init(parsing text: String) throws(SealKitError) {
        let trimmed = String(text.trimmingWhitespace())
        switch Self.detectEncoding(trimmed) {
        case .phrase:
            let entropy = try BIP39.entropy(from: trimmed)
            guard entropy.count == Self.byteCount else {
                throw SealKitError(
                    .wrongWordCount,
                    "a seal key phrase has 24 words; this one has \((entropy.count * 8 + entropy.count / 4) / 11) words"
                )
            }
            self.init(validated: entropy)
        case .hex:
            let digits = trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") ? trimmed.dropFirst(2) : Substring(trimmed)
            guard var decoded = Hex.decode(digits) else { throw Self.encodingError }
            defer { decoded.wipe() }
            self.init(validated: try SecretBytes(copying: decoded))
        case .base64:
            guard var data = Data(base64Encoded: trimmed), data.count == Self.byteCount else {
                throw Self.encodingError
            }
            defer { data.resetBytes(in: 0..<data.count) }
            var secret = try SecretBytes(zeroedCount: Self.byteCount)
            secret.withUnsafeMutableBytes { out in _ = data.copyBytes(to: out) }
            self.init(validated: secret)
        }
    }

    private static var encodingError: SealKitError {
        SealKitError(
            .invalidKeyEncoding,
            "a seal key is a 24-word BIP39 phrase, 44 characters of base64, or 64 hex digits"
        )
    }

    /// Which form `text` looks like (no validation).
    public static func detectEncoding(_ text: String) -> Encoding {
        let trimmed = text.trimmingWhitespace()
        if trimmed.contains(where: { $0.isWhitespace }) { return .phrase }
        var digits = trimmed
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        if digits.count == 64, digits.allSatisfy(\.isHexDigit) { return .hex }
        return .base64
    }

    /// Lends the 32 bytes to `body`.
    public func withUnsafeBytes<R: ~Copyable, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try bytes.withUnsafeBytes(body)
    }

    /// The 24-word phrase, words joined by single spaces.
    ///
    /// The returned `String` is ordinary heap memory: hand it to the operator and drop it.
    public func phrase() -> String {
        bytes.withUnsafeBytes { raw in
            // 32 bytes is always a valid BIP39 entropy length.
            (try? BIP39.phrase(for: raw)) ?? ""
        }
    }

    /// The key in the requested form.
    public func encoded(as encoding: Encoding) -> String {
        switch encoding {
        case .phrase: phrase()
        case .hex: bytes.withUnsafeBytes { Hex.encode($0) }
        case .base64: bytes.withUnsafeBytes { Data($0).base64EncodedString() }
        }
    }

    /// The Provide-compatible validation hash of this key's phrase.
    public func validationHash() -> ValidationHash {
        ValidationHash(phrase: phrase())
    }

    /// Equality in constant time.
    public func constantTimeEquals(_ other: borrowing SealKey) -> Bool {
        bytes.constantTimeEquals(other.bytes)
    }

    /// A copy in its own locked pages.
    public func duplicate() throws(SealKitError) -> SealKey {
        SealKey(validated: try bytes.duplicate())
    }

    /// Moves the bytes out, ending the key.
    public consuming func secretBytes() -> SecretBytes {
        bytes
    }
}

extension Array where Element == UInt8 {
    /// Overwrites the array's bytes with zeros in place.
    public mutating func wipe() {
        for index in indices { self[index] = 0 }
    }
}
