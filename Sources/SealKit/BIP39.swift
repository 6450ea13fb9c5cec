import Crypto
import LeanFoundation

/// BIP39 mnemonics with the English wordlist: entropy ⇄ words, checksum checked.
///
/// Seal keys use 32 bytes of entropy, so 24 words; the other lengths BIP39 defines (16…32
/// bytes in steps of 4) work too, so reference test vectors of every size can be checked.
public enum BIP39 {
    /// The 2048 English words, in order.
    public static let englishWords: [String] = englishWordlistText.split(separator: "\n").map(String.init)

    private static let index: [String: Int] = Dictionary(
        uniqueKeysWithValues: englishWords.enumerated().map { ($1, $0) }
    )

    /// The word count for 32 bytes of entropy.
    public static let sealKeyWordCount = 24

    /// The mnemonic for `entropy` (16, 20, 24, 28 or 32 bytes), words joined by single spaces.
    public static func phrase(for entropy: UnsafeRawBufferPointer) throws(SealKitError) -> String {
        words(for: try checkedBits(entropy)).joined(separator: " ")
    }

    /// The mnemonic for `entropy`, as words.
    public static func words(for entropy: UnsafeRawBufferPointer) throws(SealKitError) -> [String] {
        words(for: try checkedBits(entropy))
    }

    /// Splits and normalises a phrase: lower case, any run of white space as one separator,
    /// leading and trailing white space ignored, full-width forms folded to ASCII.
    ///
    /// BIP39 asks for NFKD. For the English list — ASCII words — NFKD matters only where it
    /// turns a character into ASCII letters, and the characters people actually type that way
    /// are the full-width forms of East Asian input methods (`ａｂａｎｄｏｎ`, U+FF01–U+FF5E) and
    /// the ideographic space (U+3000, white space already); those are folded exactly as NFKD
    /// folds them. Rarer compatibility characters (the ligature `ﬁ`, mathematical letters) are
    /// not: a word holding one is reported as not in the wordlist. Full NFKD needs ICU, and
    /// with it the full Foundation in every process that reads seal keys, the agent included.
    public static func normalizedWords(_ phrase: String) -> [String] {
        foldingFullWidth(phrase)
            .lowercased()
            .split(whereSeparator: { $0.isWhitespace })
            .map(String.init)
    }

    /// The canonical form of a phrase: normalised words joined by single spaces. This is the
    /// text the validation hash is computed over.
    public static func canonicalPhrase(_ phrase: String) -> String {
        normalizedWords(phrase).joined(separator: " ")
    }

    /// Decodes a phrase to its entropy, checking every word and the checksum.
    ///
    /// - Throws: ``SealKitError`` naming the unknown word and its position, a wrong word
    ///   count, or a failed checksum.
    public static func entropy(from phrase: String) throws(SealKitError) -> SecretBytes {
        let words = normalizedWords(phrase)
        guard [12, 15, 18, 21, 24].contains(words.count) else {
            throw SealKitError(
                .wrongWordCount,
                "a BIP39 phrase has 12, 15, 18, 21 or 24 words (a seal key has 24); found \(words.count)"
            )
        }
        var indices = [Int]()
        indices.reserveCapacity(words.count)
        for (position, word) in words.enumerated() {
            guard let value = index[word] else {
                throw SealKitError(
                    .unknownWord,
                    "word \(position + 1) (\"\(word)\") is not in the BIP39 English wordlist"
                )
            }
            indices.append(value)
        }
        defer { for i in indices.indices { indices[i] = 0 } }

        let totalBits = words.count * 11
        let checksumBits = totalBits / 33
        let entropyBytes = (totalBits - checksumBits) / 8
        // All bits: entropy followed by the checksum, packed big-endian.
        var packed = [UInt8](repeating: 0, count: (totalBits + 7) / 8)
        defer { for i in packed.indices { packed[i] = 0 } }
        for (wordIndex, value) in indices.enumerated() {
            for bit in 0..<11 where value & (1 << (10 - bit)) != 0 {
                let position = wordIndex * 11 + bit
                packed[position / 8] |= 0x80 >> UInt8(position % 8)
            }
        }
        var entropy = try SecretBytes(zeroedCount: entropyBytes)
        entropy.withUnsafeMutableBytes { out in
            for i in 0..<entropyBytes { out[i] = packed[i] }
        }
        let expected = entropy.withUnsafeBytes { checksum(of: $0, bits: checksumBits) }
        let found = packed[entropyBytes] & (0xff << UInt8(8 - checksumBits))
        guard expected == found else {
            throw SealKitError(
                .checksumMismatch,
                "the BIP39 checksum does not match: a word is wrong or the words are out of order"
            )
        }
        return entropy
    }

    /// U+FF01–U+FF5E → U+0021–U+007E (NFKD's mapping of the full-width forms).
    static func foldingFullWidth(_ text: String) -> String {
        guard !text.utf8.allSatisfy({ $0 < 0x80 }) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if (0xFF01...0xFF5E).contains(scalar.value), let folded = Unicode.Scalar(scalar.value - 0xFF01 + 0x21) {
                scalars.append(folded)
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// Whether `word` is in the English wordlist (after normalisation).
    public static func isWord(_ word: String) -> Bool {
        index[foldingFullWidth(word).lowercased()] != nil
    }

    // MARK: - Internals

    private static func checkedBits(_ entropy: UnsafeRawBufferPointer) throws(SealKitError) -> (UnsafeRawBufferPointer, Int) {
        guard entropy.count >= 16, entropy.count <= 32, entropy.count % 4 == 0 else {
            throw SealKitError(
                .invalidEntropyLength,
                "BIP39 entropy is 16, 20, 24, 28 or 32 bytes; got \(entropy.count)"
            )
        }
        return (entropy, entropy.count * 8 / 32)
    }

    private static func checksum(of entropy: UnsafeRawBufferPointer, bits: Int) -> UInt8 {
        let digest = SHA256.hash(data: entropy)
        let first = digest.withUnsafeBytes { $0[0] }
        return first & (0xff << UInt8(8 - bits))
    }

    private static func words(for checked: (UnsafeRawBufferPointer, Int)) -> [String] {
        let (entropy, checksumBits) = checked
        let checksumByte = checksum(of: entropy, bits: checksumBits)
        let totalBits = entropy.count * 8 + checksumBits
        func bit(_ position: Int) -> Int {
            let byte = position / 8 < entropy.count ? entropy[position / 8] : checksumByte
            return Int(byte >> UInt8(7 - position % 8)) & 1
        }
        var result = [String]()
        result.reserveCapacity(totalBits / 11)
        for word in 0..<(totalBits / 11) {
            var value = 0
            for offset in 0..<11 { value = value << 1 | bit(word * 11 + offset) }
            result.append(englishWords[value])
        }
        return result
    }
}
