import Foundation
import SealKit
import Testing

/// The one grammar of key text: stored material (a key, or a JSON list of shares) and what
/// `sys/unseal` is given (a key, or a 33-byte share).
@Suite("key text")
struct SealMaterialTests {
    @Test("stored material: a key's text or a list of shares, one trailing newline and surrounding blanks ignored; rendered back the same")
    func storedMaterial() throws {
        let phrase = try SealKey.generate().phrase()
        #expect(try SealMaterial(storedText: "  \(phrase)\r\n") == .key(phrase))
        #expect(try SealMaterial(storedText: "[\"a\",\"b\"]\n") == .shares(["a", "b"]))
        for material in [SealMaterial.key(phrase), .shares(["c2hhcmUx", "c2hhcmUy"])] {
            #expect(try SealMaterial(storedText: material.storedText) == material)
        }
        #expect(SealMaterial.shares(["x", "y"]).unsealKeys == ["x", "y"])
        #expect(SealMaterial.key("k").envelopeContent == "key")
    }

    @Test("bad stored material: empty, or a list that is not of strings — the reason never holds the text", arguments: ["", " \n", "[", "[]", "[1,2]", "[\"secret\", 3]"])
    func badMaterial(_ text: String) {
        let error = #expect(throws: SealKitError.self) { try SealMaterial(storedText: text) }
        #expect(error?.code == .invalidMaterial)
        #expect(error?.reason.contains("secret") == false)
    }

    @Test("unseal text: a phrase, hex or base64 key is a key; 33 bytes is a share; the rest is refused by kind")
    func unsealText() throws {
        let key = try SealKey.generate()
        for text in [key.phrase(), key.encoded(as: .hex), "0x" + key.encoded(as: .hex), key.encoded(as: .base64)] {
            guard case .key(let parsed) = try UnsealKeyText(parsing: text) else { Issue.record("not a key"); continue }
            #expect(parsed.phrase() == key.phrase())
        }
        let share = [UInt8](repeating: 7, count: 33)
        guard case .share(let bytes) = try UnsealKeyText(parsing: Data(share).base64EncodedString()) else { Issue.record("not a share"); return }
        #expect(bytes == share)
        let cases: [(String, String)] = [
            ("   ", "no key given"), ("one two three", "not a valid seal key phrase"), ("%%%", "neither a 24-word phrase"),
            (String(repeating: "ab", count: 32) + "00", "this share is malformed"), ("abcd", "the key is 2 bytes"),
        ]
        for (text, reason) in cases {
            let error = #expect(throws: SealKitError.self) { _ = try UnsealKeyText(parsing: text) }
            #expect(error?.reason.contains(reason) == true, "\(text): \(error?.reason ?? "")")
        }
    }
}
