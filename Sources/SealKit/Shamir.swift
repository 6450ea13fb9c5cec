/// Shamir's secret sharing over GF(2^8), byte-compatible with Vault's: each share is the
/// y-values of every secret byte followed by one byte holding the share's x coordinate.
///
/// Any `threshold` distinct shares recover the secret; fewer reveal nothing about it.
public enum Shamir {
    /// The largest number of shares: x coordinates are the non-zero bytes.
    public static let maximumShares = 255

    /// Splits `secret` into `shares` shares, any `threshold` of which recover it.
    ///
    /// x coordinates are a random selection of 1…255 (as Vault does), and the polynomial
    /// coefficients come from the system CSPRNG.
    public static func split(
        _ secret: UnsafeRawBufferPointer,
        shares: Int,
        threshold: Int
    ) throws(SealKitError) -> [[UInt8]] {
        guard secret.count > 0 else {
            throw SealKitError(.invalidShamirParameters, "cannot split an empty secret")
        }
        guard (1...maximumShares).contains(threshold) else {
            throw SealKitError(.invalidShamirParameters, "the threshold must be between 1 and 255; got \(threshold)")
        }
        guard (threshold...maximumShares).contains(shares) else {
            throw SealKitError(
                .invalidShamirParameters,
                "the number of shares must be between the threshold (\(threshold)) and 255; got \(shares)"
            )
        }

        let xs = try distinctCoordinates(shares)
        var result = xs.map { x -> [UInt8] in
            var share = [UInt8](repeating: 0, count: secret.count + 1)
            share[secret.count] = x
            return share
        }
        // One random polynomial of degree threshold-1 per secret byte, constant term = the byte.
        var coefficients = try SecretBytes(zeroedCount: max(threshold - 1, 1))
        for byteIndex in 0..<secret.count {
            try coefficients.withUnsafeMutableBytes { (raw) throws(SealKitError) in
                if threshold > 1 { try SystemRandom.fill(raw) }
            }
            coefficients.withUnsafeBytes { c in
                for (shareIndex, x) in xs.enumerated() {
                    // Horner's rule from the highest coefficient down to the secret byte.
                    var y: UInt8 = 0
                    if threshold > 1 {
                        for degree in stride(from: threshold - 2, through: 0, by: -1) {
                            y = GF256.add(GF256.multiply(y, x), c[degree])
                        }
                    }
                    y = GF256.add(GF256.multiply(y, x), secret[byteIndex])
                    result[shareIndex][byteIndex] = y
                }
            }
        }
        return result
    }

    /// Recovers the secret from shares by Lagrange interpolation at x = 0.
    ///
    /// With fewer shares than the threshold used at split time the result is a different,
    /// unrelated value: the function cannot tell, so callers that know the secret's hash (a
    /// validation hash, an authenticated ciphertext) check it.
    ///
    /// - Throws: when there are no shares, shares differ in length or are shorter than two
    ///   bytes, a share has x = 0, or two shares have the same x.
    public static func combine(_ shares: [[UInt8]]) throws(SealKitError) -> SecretBytes {
        guard let first = shares.first else {
            throw SealKitError(.malformedShare, "at least one share is needed")
        }
        guard shares.count <= maximumShares else {
            throw SealKitError(.malformedShare, "at most 255 shares can be combined; got \(shares.count)")
        }
        let length = first.count
        var seen = Set<UInt8>()
        for (position, share) in shares.enumerated() {
            guard share.count >= 2 else {
                throw SealKitError(.malformedShare, "share \(position + 1) is too short (\(share.count) bytes; at least 2)")
            }
            guard share.count == length else {
                throw SealKitError(
                    .malformedShare,
                    "share \(position + 1) is \(share.count) bytes but share 1 is \(length): shares of one secret all have the same length"
                )
            }
            let x = share[length - 1]
            guard x != 0 else {
                throw SealKitError(.malformedShare, "share \(position + 1) has x coordinate 0, which no valid share has")
            }
            guard seen.insert(x).inserted else {
                throw SealKitError(.duplicateShare, "share \(position + 1) repeats an earlier share (same x coordinate)")
            }
        }

        let xs = shares.map { $0[length - 1] }
        // Lagrange basis values at 0: l_i = Π_{j≠i} x_j / (x_i ⊕ x_j). They depend only on
        // the public x coordinates.
        let basis = xs.indices.map { i -> UInt8 in
            var value: UInt8 = 1
            for j in xs.indices where j != i {
                value = GF256.multiply(value, GF256.divide(xs[j], GF256.add(xs[i], xs[j])))
            }
            return value
        }
        var secret = try SecretBytes(zeroedCount: length - 1)
        secret.withUnsafeMutableBytes { out in
            for byteIndex in 0..<(length - 1) {
                var y: UInt8 = 0
                for (i, share) in shares.enumerated() {
                    y = GF256.add(y, GF256.multiply(share[byteIndex], basis[i]))
                }
                out[byteIndex] = y
            }
        }
        return secret
    }

    /// `count` distinct x coordinates from 1…255, chosen by a partial Fisher–Yates shuffle.
    private static func distinctCoordinates(_ count: Int) throws(SealKitError) -> [UInt8] {
        var pool = (1...255).map { UInt8($0) }
        for i in 0..<count {
            let j = i + (try SystemRandom.uniform(pool.count - i))
            pool.swapAt(i, j)
        }
        return Array(pool.prefix(count))
    }
}
