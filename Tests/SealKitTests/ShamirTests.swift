import SealKit
import Testing

@Suite("Shamir")
struct ShamirTests {
    /// `count` distinct indices of `0..<n`, chosen at random.
    static func choose(_ count: Int, of n: Int) -> [Int] {
        Array((0..<n).shuffled().prefix(count))
    }

    @Test("any T of N shares recover the key; any T-1 give a different value", arguments: 1...10)
    func property(shares: Int) throws {
        for _ in 0..<20 {
            let threshold = Int.random(in: 1...shares)
            let key = try SecretBytes.random(count: 32)
            let parts = try key.withUnsafeBytes { try Shamir.split($0, shares: shares, threshold: threshold) }
            #expect(parts.count == shares)
            #expect(parts.allSatisfy { $0.count == 33 })
            #expect(Set(parts.map { $0[32] }).count == shares, "x coordinates are distinct")
            #expect(parts.allSatisfy { $0[32] != 0 })

            // Several random subsets of size T, in random order.
            for _ in 0..<5 {
                let subset = Self.choose(threshold, of: shares).map { parts[$0] }
                let recovered = try Shamir.combine(subset)
                do { let ok = recovered.constantTimeEquals(key); #expect(ok) }
            }
            // More than T shares also recover it.
            if threshold < shares {
                let recovered = try Shamir.combine(Self.choose(threshold + 1, of: shares).map { parts[$0] })
                do { let ok = recovered.constantTimeEquals(key); #expect(ok) }
            }
            // T-1 shares (when T ≥ 2) interpolate to something else.
            if threshold >= 2 {
                for _ in 0..<3 {
                    let subset = Self.choose(threshold - 1, of: shares).map { parts[$0] }
                    let wrong = try Shamir.combine(subset)
                    do { let ok = !wrong.constantTimeEquals(key); #expect(ok) }
                }
            }
        }
    }

    @Test("threshold 1: every share alone recovers the key")
    func thresholdOne() throws {
        let key = try SecretBytes.random(count: 32)
        let parts = try key.withUnsafeBytes { try Shamir.split($0, shares: 5, threshold: 1) }
        for part in parts {
            do { let ok = try Shamir.combine([part]).constantTimeEquals(key); #expect(ok) }
        }
    }

    @Test("255 shares with threshold 255")
    func maximum() throws {
        let key = try SecretBytes.random(count: 4)
        let parts = try key.withUnsafeBytes { try Shamir.split($0, shares: 255, threshold: 255) }
        do { let ok = try Shamir.combine(parts.shuffled()).constantTimeEquals(key); #expect(ok) }
        do { let ok = !(try Shamir.combine(Array(parts.dropFirst()))).constantTimeEquals(key); #expect(ok) }
    }

    @Test("parameters out of range are refused")
    func parameters() throws {
        let key = try SecretBytes.random(count: 32)
        for (shares, threshold) in [(0, 0), (3, 0), (2, 3), (256, 2), (300, 300), (5, 256)] {
            let error = #expect(throws: SealKitError.self) {
                _ = try key.withUnsafeBytes { try Shamir.split($0, shares: shares, threshold: threshold) }
            }
            #expect(error?.code == .invalidShamirParameters)
        }
        let empty = [UInt8]()
        #expect(throws: SealKitError.self) {
            _ = try empty.withUnsafeBytes { try Shamir.split($0, shares: 3, threshold: 2) }
        }
    }

    @Test("malformed and duplicate shares are refused")
    func malformed() throws {
        let key = try SecretBytes.random(count: 32)
        let parts = try key.withUnsafeBytes { try Shamir.split($0, shares: 3, threshold: 2) }

        func code(_ shares: [[UInt8]]) -> SealKitError.Code? {
            do {
                _ = try Shamir.combine(shares)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code([]) == .malformedShare)
        #expect(code([parts[0], parts[0]]) == .duplicateShare)
        var sameX = parts[1]
        sameX[32] = parts[0][32]
        #expect(code([parts[0], sameX]) == .duplicateShare)
        #expect(code([parts[0], Array(parts[1].dropLast())]) == .malformedShare)
        #expect(code([[1], parts[0]]) == .malformedShare)
        var zeroX = parts[0]
        zeroX[32] = 0
        #expect(code([zeroX, parts[1]]) == .malformedShare)
    }
}
