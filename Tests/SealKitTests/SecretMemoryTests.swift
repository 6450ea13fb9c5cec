import Foundation
import TestSupport
import SealKit
import Synchronization
@testable import SealKit
import Testing

@Suite("Secret memory", .serialized)
struct SecretMemoryTests {
    /// `VmLck` from /proc/self/status, in kB.
    static func lockedKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmLck:") })
        return try #require(Int(line.split(whereSeparator: \.isWhitespace)[1]))
    }

    @Test("held key material is locked in RAM (VmLck > 0)")
    func locked() throws {
        let key = try SealKey.generate()
        let secret = try SecretBytes.random(count: 32)
        do { let ok = secret.isLocked; #expect(ok, "mlock failed: is RLIMIT_MEMLOCK tiny here?") }
        #expect(try Self.lockedKilobytes() > 0)
        _ = key.phrase()
    }

    @Test("pages are wiped before they are released")
    func wipedOnRelease() throws {
        let observed = Mutex<[Bool]>([])
        let inspecting = SecretAllocator(
            allocate: { length throws(SealKitError) in
                let region = try SecretAllocator.pages.allocate(length)
                return region
            },
            release: { base, length in
                let bytes = UnsafeRawBufferPointer(start: base, count: length)
                observed.withLock { $0.append(bytes.allSatisfy { $0 == 0 }) }
                SecretAllocator.pages.release(base, length)
            }
        )
        do {
            var secret = try SecretBytes(zeroedCount: 32, allocator: inspecting)
            secret.withUnsafeMutableBytes { raw in
                for index in raw.indices { raw[index] = 0xA5 }
            }
            secret.withUnsafeBytes { #expect($0.allSatisfy { $0 == 0xA5 }) }
            _ = consume secret
        }
        #expect(observed.withLock { $0 } == [true])
    }

    @Test("copies are explicit and independent")
    func duplicate() throws {
        var original = try SecretBytes(copying: [1, 2, 3, 4])
        let copy = try original.duplicate()
        original.withUnsafeMutableBytes { $0[0] = 9 }
        copy.withUnsafeBytes { #expect(Array($0) == [1, 2, 3, 4]) }
        do { let ok = !copy.constantTimeEquals(original); #expect(ok) }
    }

    @Test("a cloaked secret holds only ciphertext and reveals the plaintext in a closure")
    func cloaking() throws {
        let plaintext: [UInt8] = Array("the vault master key, 32 bytes!!".utf8)
        let cloaked = try Cloaked(try SecretBytes(copying: plaintext))
        do { let ok = cloaked.count == 32; #expect(ok) }
        let seen = try cloaked.reveal { Array($0) }
        #expect(seen == plaintext)
        let revealed = try cloaked.revealed()
        revealed.withUnsafeBytes { #expect(Array($0) == plaintext) }
    }

    @Test("cloaked text (a cached credential) round-trips, empty and multi-line included")
    func cloakedText() throws {
        for text in ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nIQoJb3JpZ2luX2VjE...", "", "é 🔑"] {
            #expect(try CloakedText(text).reveal() == text)
        }
        let cloak = try CloakingKey()
        #expect(try CloakedText("token", under: cloak).reveal() == "token")
        #expect(CloakingKey.process.isLocked || getuid() != 0, "root can always lock a page")
    }

    @Test("tampered ciphertext, or another cloaking key, fails to authenticate")
    func tampering() throws {
        let first = try CloakingKey()
        let second = try CloakingKey()
        let plaintext: [UInt8] = Array(repeating: 0x42, count: 16)
        let cloaked = try Cloaked(try SecretBytes(copying: plaintext), under: first)
        #expect(try cloaked.reveal { Array($0) } == plaintext)
        #expect(!cloaked.sealedBytes.contains(plaintext), "the stored form holds the plaintext")

        let underOther = Cloaked(sealed: cloaked.sealedBytes, count: 16, cloak: second)
        let wrongKey = #expect(throws: SealKitError.self) { try underOther.reveal { _ in () } }
        #expect(wrongKey?.code == .cloakingFailure)

        for index in [0, 12, cloaked.sealedBytes.count - 1] {
            var bytes = cloaked.sealedBytes
            bytes[index] ^= 0x01
            let tampered = Cloaked(sealed: bytes, count: 16, cloak: first)
            let error = #expect(throws: SealKitError.self) { try tampered.reveal { _ in () } }
            #expect(error?.code == .cloakingFailure)
        }
    }

    @Test("the CSPRNG fills buffers and draws without bias")
    func random() throws {
        let a = try SystemRandom.bytes(32)
        let b = try SystemRandom.bytes(32)
        #expect(a != b)
        var counts = [Int](repeating: 0, count: 3)
        for _ in 0..<3000 { counts[try SystemRandom.uniform(3)] += 1 }
        #expect(counts.allSatisfy { $0 > 800 })
    }
}
