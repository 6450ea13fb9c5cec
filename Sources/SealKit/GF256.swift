/// Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 — the field Vault's
/// Shamir implementation uses. Every operation runs in constant time: no branches or table
/// look-ups indexed by secret values.
enum GF256 {
    /// Addition and subtraction are both XOR.
    @inline(__always)
    static func add(_ a: UInt8, _ b: UInt8) -> UInt8 { a ^ b }

    /// Carry-less multiplication reduced by the AES polynomial.
    @inline(__always)
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a
        var b = b
        var product: UInt8 = 0
        for _ in 0..<8 {
            product ^= a & (0 &- (b & 1))
            let carry = a >> 7
            a = (a << 1) ^ (0x1b & (0 &- carry))
            b >>= 1
        }
        return product
    }

    /// The multiplicative inverse, a^254 (so 0 maps to 0, which callers never pass).
    static func inverse(_ a: UInt8) -> UInt8 {
        // a^254 = a^(2+4+8+16+32+64+128)
        var result: UInt8 = 1
        var square = a
        for _ in 0..<7 {
            square = multiply(square, square)
            result = multiply(result, square)
        }
        return result
    }

    static func divide(_ a: UInt8, _ b: UInt8) -> UInt8 {
        precondition(b != 0, "division by zero in GF(2^8)")
        return multiply(a, inverse(b))
    }
}
