import Crypto
import Foundation
import SealKit
import TestSupport
import Testing

@Suite("BIP39")
struct BIP39Tests {
    /// The trezor reference vectors, kept as a file with their licence (Vectors/README.md).
    static let vectors: [[String]] = {
        let url = TestEnvironment.packageRoot.appendingPathComponent("Tests/SealKitTests/Vectors/bip39-trezor-vectors.json")
        let data = try! Data(contentsOf: url)
        let object = try! JSONSerialization.jsonObject(with: data) as! [String: [[String]]]
        return object["english"]!
    }()

    @Test("the wordlist is the standard English list")
    func wordlist() {
        #expect(BIP39.englishWords.count == 2048)
        #expect(BIP39.englishWords.first == "abandon")
        #expect(BIP39.englishWords.last == "zoo")
        #expect(BIP39.englishWords == BIP39.englishWords.sorted())
        let text = BIP39.englishWords.joined(separator: "\n") + "\n"
        let digest = Hex.encode(SHA256.hash(data: Array(text.utf8)))
        #expect(digest == "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda")
    }

    @Test("every trezor reference vector, both ways")
    func referenceVectors() throws {
        let full = Self.vectors.filter { $0[0].count == 64 }
        #expect(full.count == 8, "the reference file has eight 256-bit vectors")
        for vector in Self.vectors {
            let entropy = Hex.decode(vector[0])!
            let phrase = try entropy.withUnsafeBytes { try BIP39.phrase(for: $0) }
            #expect(phrase == vector[1])
            let decoded = try BIP39.entropy(from: vector[1])
            decoded.withUnsafeBytes { #expect(Array($0) == entropy) }
        }
        for vector in full {
            let key = try SealKey(parsing: vector[1])
            #expect(key.encoded(as: .hex) == vector[0])
            #expect(key.phrase() == vector[1])
        }
    }

    @Test("input is normalised: case, runs of white space, NFKD")
    func normalisation() throws {
        let phrase = Self.vectors.first { $0[0].count == 64 }![1]
        let messy = "  " + phrase.uppercased().replacingOccurrences(of: " ", with: " \t\n ") + "\n"
        let a = try BIP39.entropy(from: phrase)
        let b = try BIP39.entropy(from: messy)
        do { let ok = a.constantTimeEquals(b); #expect(ok) }
        // An ideographic space (U+3000) is white space too.
        let c = try BIP39.entropy(from: phrase.replacingOccurrences(of: " ", with: "\u{3000}"))
        do { let ok = a.constantTimeEquals(c); #expect(ok) }
        #expect(BIP39.canonicalPhrase(messy) == phrase)
        // Full-width forms (an East Asian input method) fold as NFKD folds them.
        let fullWidth = String(String.UnicodeScalarView(phrase.unicodeScalars.map { $0 == " " ? "\u{3000}" : Unicode.Scalar($0.value - 0x21 + 0xFF01)! }))
        let d = try BIP39.entropy(from: fullWidth)
        do { let ok = a.constantTimeEquals(d); #expect(ok) }
        #expect(BIP39.canonicalPhrase(fullWidth) == phrase)
        // Rarer compatibility characters are not folded: the word is reported, not guessed.
        #expect(BIP39.isWord("field") && BIP39.isWord("\u{FF46}\u{FF49}\u{FF45}\u{FF4C}\u{FF44}"))
        #expect(!BIP39.isWord("\u{FB01}eld"))
    }

    @Test("errors name the bad word, the count, or the checksum")
    func errors() throws {
        var words = BIP39.normalizedWords(Self.vectors.first { $0[0].count == 64 }![1])
        words[6] = "bitcoinx"
        let unknown = #expect(throws: SealKitError.self) { _ = try BIP39.entropy(from: words.joined(separator: " ")) }
        #expect(unknown?.code == .unknownWord)
        #expect(unknown?.reason.contains("word 7") == true)
        #expect(unknown?.reason.contains("bitcoinx") == true)

        let short = #expect(throws: SealKitError.self) { _ = try BIP39.entropy(from: "abandon abandon abandon") }
        #expect(short?.code == .wrongWordCount)

        let swapped = #expect(throws: SealKitError.self) {
            _ = try BIP39.entropy(from: Array(repeating: "abandon", count: 24).joined(separator: " "))
        }
        #expect(swapped?.code == .checksumMismatch)

        let entropy = [UInt8](repeating: 1, count: 31)
        #expect(throws: SealKitError.self) { _ = try entropy.withUnsafeBytes { try BIP39.phrase(for: $0) } }
    }

    @Test(
        "1,000 random entropies match the trezor reference implementation both ways",
        .enabled(if: TestEnvironment.shouldRunOracleTests("mnemonic"), "needs the `mnemonic` oracle: run scripts/test")
    )
    func randomAgainstReference() async throws {
        var entropies = [String]()
        for _ in 0..<1000 {
            entropies.append(Hex.encode(try SystemRandom.bytes(32)))
        }
        let result = try await TestEnvironment.runOracle(
            """
            import sys
            from mnemonic import Mnemonic
            m = Mnemonic("english")
            for line in sys.stdin.read().split():
                print(m.to_mnemonic(bytes.fromhex(line)))
            """,
            input: entropies.joined(separator: "\n")
        )
        #expect(result.status == 0, "\(result.stderr)")
        let phrases = result.lines
        try #require(phrases.count == entropies.count)
        for (hex, reference) in zip(entropies, phrases) {
            let ours = try SealKey(parsing: hex)
            #expect(ours.phrase() == reference)
            let back = try SealKey(parsing: reference)
            #expect(back.encoded(as: .hex) == hex)
        }
    }

    @Test(
        "every single-word substitution is judged as the reference judges it",
        .enabled(if: TestEnvironment.shouldRunOracleTests("mnemonic"), "needs the `mnemonic` oracle: run scripts/test")
    )
    func substitutions() async throws {
        // Two phrases, every position, every other word: 2 × 24 × 2047 = 98,256 phrases. About
        // 1 in 256 keeps a valid checksum by chance; all the others must be rejected.
        let phrases = [try SealKey.generate().phrase(), Self.vectors.first { $0[0].count == 64 }![1]]
        for phrase in phrases {
            let result = try await TestEnvironment.runOracle(
                """
                import sys
                from mnemonic import Mnemonic
                m = Mnemonic("english")
                words = sys.stdin.read().split()
                for i in range(len(words)):
                    for w in m.wordlist:
                        if w == words[i]: continue
                        candidate = words[:i] + [w] + words[i+1:]
                        if m.check(" ".join(candidate)):
                            print(i, w)
                """,
                input: phrase
            )
            #expect(result.status == 0, "\(result.stderr)")
            let referenceValid = Set(result.lines)
            var oursValid = Set<String>()
            var rejected = 0
            let words = phrase.split(separator: " ").map(String.init)
            for position in words.indices {
                await Task.yield()  // a long CPU loop: let other tests' tasks run
                for word in BIP39.englishWords where word != words[position] {
                    var candidate = words
                    candidate[position] = word
                    do {
                        _ = try BIP39.entropy(from: candidate.joined(separator: " "))
                        oursValid.insert("\(position) \(word)")
                    } catch {
                        #expect(error.code == .checksumMismatch)
                        rejected += 1
                    }
                }
            }
            #expect(oursValid == referenceValid)
            #expect(rejected + oursValid.count == 24 * 2047)
            #expect(rejected > 24 * 2047 * 9 / 10)
        }
    }
}
