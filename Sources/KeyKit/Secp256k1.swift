import COpenSSL

/// The secp256k1 curve (Bitcoin, Ethereum) on OpenSSL's libcrypto: swift-crypto's BoringSSL
/// does not carry it. Keys are 32-byte big-endian scalars; public keys are SEC1 points.
public enum Secp256k1 {
    /// An ECDSA signature over a 32-byte digest: low-s normalised (as Ethereum requires), with
    /// the recovery id that lets a verifier recover the public key (`v`).
    public struct Signature: Sendable, Equatable {
        public var r: [UInt8]
        public var s: [UInt8]
        public var recoveryID: UInt8
    }

    /// The public key of `privateKey`, compressed (33 bytes) or uncompressed (65).
    public static func publicKey(_ privateKey: [UInt8], compressed: Bool) throws(KeyKitError) -> [UInt8] {
        try withCurve { curve throws(KeyKitError) in
            let scalar = try curve.scalar(privateKey)
            defer { BN_clear_free(scalar) }
            let point = EC_POINT_new(curve.group)
            defer { EC_POINT_free(point) }
            guard EC_POINT_mul(curve.group, point, scalar, nil, nil, curve.context) == 1 else { throw KeyKitError(.cryptoFailure, "secp256k1 point multiplication failed") }
            return try curve.encode(point, compressed: compressed)
        }
    }

    /// Whether `privateKey` is a valid scalar (0 < k < n).
    public static func isValidPrivateKey(_ privateKey: [UInt8]) -> Bool {
        (try? withCurve { curve throws(KeyKitError) in BN_clear_free(try curve.scalar(privateKey)) }) != nil
    }

    /// (a + b) mod n, refusing a ≥ n or a zero result: BIP32's child private key.
    public static func addScalars(_ a: [UInt8], _ b: [UInt8]) throws(KeyKitError) -> [UInt8] {
        try withCurve { curve throws(KeyKitError) in
            let x = try curve.scalar(a), y = try curve.scalar(b)
            defer { BN_clear_free(x); BN_clear_free(y) }
            let sum = BN_secure_new()
            defer { BN_clear_free(sum) }
            guard BN_mod_add(sum, x, y, curve.order, curve.context) == 1, BN_is_zero(sum) == 0 else {
                throw KeyKitError(.invalidKey, "the derived key is invalid (BIP32: try the next index)")
            }
            return curve.bytes(sum)
        }
    }

    /// Signs a 32-byte `digest`.
    public static func sign(digest: [UInt8], privateKey: [UInt8]) throws(KeyKitError) -> Signature {
        guard digest.count == 32 else { throw KeyKitError(.invalidInput, "secp256k1 signs a 32-byte digest; got \(digest.count) bytes") }
        let publicKey = try publicKey(privateKey, compressed: false)
        return try withCurve { curve throws(KeyKitError) in
            let scalar = try curve.scalar(privateKey)
            defer { BN_clear_free(scalar) }
            guard let key = EC_KEY_new_by_curve_name(NID_secp256k1) else { throw KeyKitError(.cryptoFailure, "EC_KEY_new failed") }
            defer { EC_KEY_free(key) }
            let point = try curve.decode(publicKey)
            defer { EC_POINT_free(point) }
            guard EC_KEY_set_private_key(key, scalar) == 1, EC_KEY_set_public_key(key, point) == 1,
                  let signature = ECDSA_do_sign(digest, 32, key) else {
                throw KeyKitError(.cryptoFailure, "secp256k1 signing failed")
            }
            defer { ECDSA_SIG_free(signature) }
            let r = curve.bytes(ECDSA_SIG_get0_r(signature))
            // Low s: s and n − s both verify; Ethereum accepts only the lower.
            let s = BN_dup(ECDSA_SIG_get0_s(signature))
            defer { BN_free(s) }
            let half = BN_dup(curve.order)
            defer { BN_free(half) }
            BN_rshift1(half, curve.order)
            if BN_cmp(s, half) > 0 { BN_sub(s, curve.order, s) }
            let sBytes = curve.bytes(s)
            for id: UInt8 in 0...1 where (try? curve.recover(digest: digest, r: r, s: sBytes, recoveryID: id)) == publicKey {
                return Signature(r: r, s: sBytes, recoveryID: id)
            }
            throw KeyKitError(.cryptoFailure, "secp256k1: no recovery id reproduces the public key")
        }
    }

    /// Whether (`r`, `s`) signs `digest` for `publicKey` (SEC1, compressed or not).
    public static func verify(digest: [UInt8], r: [UInt8], s: [UInt8], publicKey: [UInt8]) -> Bool {
        guard digest.count == 32, r.count == 32, s.count == 32 else { return false }
        return (try? withCurve { curve throws(KeyKitError) -> Bool in
            let point = try curve.decode(publicKey)
            defer { EC_POINT_free(point) }
            guard let key = EC_KEY_new_by_curve_name(NID_secp256k1) else { return false }
            defer { EC_KEY_free(key) }
            guard EC_KEY_set_public_key(key, point) == 1, let signature = ECDSA_SIG_new() else { return false }
            defer { ECDSA_SIG_free(signature) }
            guard ECDSA_SIG_set0(signature, BN_bin2bn(r, 32, nil), BN_bin2bn(s, 32, nil)) == 1 else { return false }
            return ECDSA_do_verify(digest, 32, signature, key) == 1
        }) ?? false
    }

    /// The uncompressed public key a signature was made with.
    public static func recover(digest: [UInt8], signature: Signature) throws(KeyKitError) -> [UInt8] {
        try withCurve { curve throws(KeyKitError) in
            try curve.recover(digest: digest, r: signature.r, s: signature.s, recoveryID: signature.recoveryID)
        }
    }

    // MARK: - The curve, for the length of one call

    struct Curve {
        let group: OpaquePointer
        let context: OpaquePointer
        let order: OpaquePointer

        func scalar(_ bytes: [UInt8]) throws(KeyKitError) -> OpaquePointer {
            guard bytes.count == 32, let value = BN_secure_new() else { throw KeyKitError(.invalidKey, "a secp256k1 private key is 32 bytes") }
            BN_bin2bn(bytes, 32, value)
            guard BN_is_zero(value) == 0, BN_cmp(value, order) < 0 else {
                BN_clear_free(value)
                throw KeyKitError(.invalidKey, "not a valid secp256k1 private key (0 < k < n)")
            }
            return value
        }

        func bytes(_ value: OpaquePointer?) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 32)
            _ = BN_bn2binpad(value, &out, 32)
            return out
        }

        func encode(_ point: OpaquePointer?, compressed: Bool) throws(KeyKitError) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: compressed ? 33 : 65)
            let form = compressed ? POINT_CONVERSION_COMPRESSED : POINT_CONVERSION_UNCOMPRESSED
            guard EC_POINT_point2oct(group, point, form, &out, out.count, context) == out.count else {
                throw KeyKitError(.cryptoFailure, "secp256k1 point encoding failed")
            }
            return out
        }

        func decode(_ bytes: [UInt8]) throws(KeyKitError) -> OpaquePointer {
            guard let point = EC_POINT_new(group) else { throw KeyKitError(.cryptoFailure, "EC_POINT_new failed") }
            guard [33, 65].contains(bytes.count), EC_POINT_oct2point(group, point, bytes, bytes.count, context) == 1,
                  EC_POINT_is_on_curve(group, point, context) == 1 else {
                EC_POINT_free(point)
                throw KeyKitError(.invalidInput, "not a secp256k1 public key (33 or 65 bytes, SEC1)")
            }
            return point
        }

        /// Q = r⁻¹(sR − eG), R the point with x = r and the parity of `recoveryID`.
        func recover(digest: [UInt8], r: [UInt8], s: [UInt8], recoveryID: UInt8) throws(KeyKitError) -> [UInt8] {
            let failure = KeyKitError(.invalidSignature, "the signature does not recover a public key")
            guard recoveryID < 2, let bigR = EC_POINT_new(group), let q = EC_POINT_new(group) else { throw failure }
            defer { EC_POINT_free(bigR); EC_POINT_free(q) }
            let rValue = BN_bin2bn(r, 32, nil), sValue = BN_bin2bn(s, 32, nil), e = BN_bin2bn(digest, 32, nil)
            let rInverse = BN_new(), u1 = BN_new(), u2 = BN_new(), zero = BN_new()
            defer { [rValue, sValue, e, rInverse, u1, u2, zero].forEach { BN_free($0) } }
            BN_set_word(zero, 0)
            guard EC_POINT_set_compressed_coordinates(group, bigR, rValue, Int32(recoveryID), context) == 1,
                  BN_mod_inverse(rInverse, rValue, order, context) != nil,
                  BN_mod_mul(u1, e, rInverse, order, context) == 1,
                  BN_mod_sub(u1, zero, u1, order, context) == 1,
                  BN_mod_mul(u2, sValue, rInverse, order, context) == 1,
                  EC_POINT_mul(group, q, u1, bigR, u2, context) == 1 else { throw failure }
            return try encode(q, compressed: false)
        }
    }

    static func withCurve<T>(_ body: (Curve) throws(KeyKitError) -> T) throws(KeyKitError) -> T {
        guard let group = EC_GROUP_new_by_curve_name(NID_secp256k1), let context = BN_CTX_new() else {
            throw KeyKitError(.cryptoFailure, "OpenSSL has no secp256k1 curve")
        }
        defer { EC_GROUP_free(group); BN_CTX_free(context) }
        guard let order = EC_GROUP_get0_order(group) else { throw KeyKitError(.cryptoFailure, "secp256k1 order unavailable") }
        return try body(Curve(group: group, context: context, order: order))
    }
}
