import Crypto
import Foundation
import SealKit
import _CryptoExtras

/// The RSA signature schemes `options.algorithm` names: PSS (salt as long as the digest) or
/// PKCS#1 v1.5, each over SHA-256, SHA-384 or SHA-512.
public enum RSAAlgorithm: String, CaseIterable, Sendable {
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"

    public init(parsing text: String) throws(KeyKitError) {
        guard let algorithm = Self(rawValue: text.uppercased()) else {
            throw KeyKitError(.invalidInput, "options.algorithm: '\(text)' is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = algorithm
    }

    var padding: _RSA.Signing.Padding { rawValue.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5 }

    func signature(_ key: _RSA.Signing.PrivateKey, _ message: [UInt8]) throws -> _RSA.Signing.RSASignature {
        switch self {
        case .ps256, .rs256: try key.signature(for: SHA256.hash(data: message), padding: padding)
        case .ps384, .rs384: try key.signature(for: SHA384.hash(data: message), padding: padding)
        case .ps512, .rs512: try key.signature(for: SHA512.hash(data: message), padding: padding)
        }
    }

    func isValid(_ signature: [UInt8], _ key: _RSA.Signing.PublicKey, _ message: [UInt8]) -> Bool {
        let signature = _RSA.Signing.RSASignature(rawRepresentation: signature)
        return switch self {
        case .ps256, .rs256: key.isValidSignature(signature, for: SHA256.hash(data: message), padding: padding)
        case .ps384, .rs384: key.isValidSignature(signature, for: SHA384.hash(data: message), padding: padding)
        case .ps512, .rs512: key.isValidSignature(signature, for: SHA512.hash(data: message), padding: padding)
        }
    }
}

/// What `sign` and `verify` take beyond the message: the RSA scheme, and for BIP39 keys the
/// derivation path of the signing key.
public struct SigningOptions: Sendable {
    public var algorithm: RSAAlgorithm?
    public var path: HDWallet.Path?

    public init(algorithm: RSAAlgorithm? = nil, path: HDWallet.Path? = nil) {
        self.algorithm = algorithm
        self.path = path
    }
}

/// A signature, and for secp256k1 and BIP39 keys the signer's address (and path).
public struct Signed: Sendable {
    public var signature: [UInt8]
    public var address: String?
    public var hdDerivationPath: String?
}

/// Encrypt, decrypt, sign and verify with private material as ``KeyMaterial`` makes it.
///
/// Formats: symmetric ciphertext is nonce (12) ‖ ciphertext ‖ tag (16); RSA encrypts with
/// OAEP-SHA256. Ed25519 signs the raw message; P-256 signs SHA-256 of it (DER signature);
/// secp256k1 signs a 32-byte digest as r ‖ s ‖ v (v = recovery id 0 or 1, as go-ethereum's
/// `crypto.Sign`), low-s; RSA per ``RSAAlgorithm`` (PS256 when none is named).
public enum KeyOperations {
    public static func encrypt(_ spec: KeySpec, material: [UInt8], plaintext: [UInt8], nonce: [UInt8]? = nil) throws(KeyKitError) -> [UInt8] {
        if let nonce, nonce.count != 12 { throw KeyKitError(.invalidInput, "nonce: must be 12 bytes (24 hex digits), got \(nonce.count)") }
        do {
            switch spec {
            case .aes256GCM:
                let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: material), nonce: nonce.map { try AES.GCM.Nonce(data: $0) } ?? AES.GCM.Nonce())
                return Array(box.combined ?? Data())
            case .chaCha20Poly1305:
                let box = try ChaChaPoly.seal(plaintext, using: SymmetricKey(data: material), nonce: nonce.map { try ChaChaPoly.Nonce(data: $0) } ?? ChaChaPoly.Nonce())
                return Array(box.combined)
            case .rsa2048, .rsa3072, .rsa4096:
                guard nonce == nil else { throw KeyKitError(.invalidInput, "nonce: RSA-OAEP takes no nonce") }
                let key = try _RSA.Encryption.PrivateKey(derRepresentation: material).publicKey
                let limit = key.maximumEncryptSize(with: .PKCS1_OAEP_SHA256)
                guard plaintext.count <= limit else {
                    throw KeyKitError(.invalidInput, "data: \(spec.rawValue) with OAEP-SHA256 encrypts at most \(limit) bytes, got \(plaintext.count); encrypt a symmetric key instead")
                }
                return Array(try key.encrypt(plaintext, padding: .PKCS1_OAEP_SHA256))
            default:
                throw KeyKitError(.unsupported, "a \(spec.rawValue) key cannot encrypt")
            }
        } catch let error as KeyKitError {
            throw error
        } catch {
            throw KeyKitError(.cryptoFailure, "\(spec.rawValue) encryption failed")
        }
    }

    public static func decrypt(_ spec: KeySpec, material: [UInt8], ciphertext: [UInt8]) throws(KeyKitError) -> [UInt8] {
        let refused = KeyKitError(.invalidSignature, "data: the ciphertext failed authentication (altered, truncated, or made with another key)")
        switch spec {
        case .aes256GCM:
            guard ciphertext.count >= 28, let box = try? AES.GCM.SealedBox(combined: ciphertext),
                  let plain = try? AES.GCM.open(box, using: SymmetricKey(data: material)) else { throw refused }
            return Array(plain)
        case .chaCha20Poly1305:
            guard ciphertext.count >= 28, let box = try? ChaChaPoly.SealedBox(combined: ciphertext),
                  let plain = try? ChaChaPoly.open(box, using: SymmetricKey(data: material)) else { throw refused }
            return Array(plain)
        case .rsa2048, .rsa3072, .rsa4096:
            guard let key = try? _RSA.Encryption.PrivateKey(derRepresentation: material) else {
                throw KeyKitError(.invalidKey, "the stored \(spec.rawValue) material is not a valid key")
            }
            guard let plain = try? key.decrypt(ciphertext, padding: .PKCS1_OAEP_SHA256) else { throw refused }
            return Array(plain)
        default:
            throw KeyKitError(.unsupported, "a \(spec.rawValue) key cannot decrypt")
        }
    }

    public static func sign(_ spec: KeySpec, material: [UInt8], message: [UInt8], options: SigningOptions = .init()) throws(KeyKitError) -> Signed {
        do {
            switch spec {
            case .ed25519:
                let key = try Curve25519.Signing.PrivateKey(rawRepresentation: material)
                return Signed(signature: Array(try key.signature(for: message)))
            case .p256:
                let key = try P256.Signing.PrivateKey(rawRepresentation: material)
                return Signed(signature: Array(try key.signature(for: message).derRepresentation))
            case .secp256k1:
                let signature = try Secp256k1.sign(digest: try digest32(message), privateKey: material)
                let address = Ethereum.address(uncompressedPublicKey: try Secp256k1.publicKey(material, compressed: false))
                return Signed(signature: signature.r + signature.s + [signature.recoveryID], address: address)
            case .bip39:
                let derived = try HDWallet.derived(entropy: material, path: options.path ?? .ethereumDefault)
                let signature = try Secp256k1.sign(digest: try digest32(message), privateKey: derived.privateKey)
                return Signed(signature: signature.r + signature.s + [signature.recoveryID], address: derived.address, hdDerivationPath: derived.path.description)
            case .rsa2048, .rsa3072, .rsa4096:
                let key = try _RSA.Signing.PrivateKey(derRepresentation: material)
                return Signed(signature: Array(try (options.algorithm ?? .ps256).signature(key, message).rawRepresentation))
            case .aes256GCM, .chaCha20Poly1305:
                throw KeyKitError(.unsupported, "a \(spec.rawValue) key cannot sign")
            }
        } catch let error as KeyKitError {
            throw error
        } catch {
            throw KeyKitError(.cryptoFailure, "\(spec.rawValue) signing failed")
        }
    }

    /// Verifies with a stored key's private material (its public half is derived from it).
    public static func verify(_ spec: KeySpec, material: [UInt8], message: [UInt8], signature: [UInt8], options: SigningOptions = .init()) throws(KeyKitError) -> Bool {
        let publicKey: VerifyingKey
        do {
            switch spec {
            case .ed25519: publicKey = .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: material).publicKey)
            case .p256: publicKey = .p256(try P256.Signing.PrivateKey(rawRepresentation: material).publicKey)
            case .secp256k1: publicKey = .secp256k1(try Secp256k1.publicKey(material, compressed: false))
            case .bip39: publicKey = .secp256k1(try HDWallet.derived(entropy: material, path: options.path ?? .ethereumDefault).publicKey)
            case .rsa2048, .rsa3072, .rsa4096: publicKey = .rsa(try _RSA.Signing.PrivateKey(derRepresentation: material).publicKey)
            case .aes256GCM, .chaCha20Poly1305: throw KeyKitError(.unsupported, "a \(spec.rawValue) key cannot verify")
            }
        } catch let error as KeyKitError {
            throw error
        } catch {
            throw KeyKitError(.invalidKey, "the stored \(spec.rawValue) material is not a valid key")
        }
        return try publicKey.verify(message: message, signature: signature, options: options)
    }

    /// Verifies with a public key as `publicInfo` shows it (detached verification).
    public static func verify(_ spec: KeySpec, publicKey: String, message: [UInt8], signature: [UInt8], options: SigningOptions = .init()) throws(KeyKitError) -> Bool {
        try VerifyingKey(spec, publicKey).verify(message: message, signature: signature, options: options)
    }

    static func digest32(_ message: [UInt8]) throws(KeyKitError) -> [UInt8] {
        guard message.count == 32 else {
            throw KeyKitError(.invalidInput, "message: secp256k1 signs a 32-byte digest (64 hex digits), got \(message.count) bytes; hash it first (Keccak-256 for Ethereum)")
        }
        return message
    }
}

/// A public key that verifies.
enum VerifyingKey {
    case ed25519(Curve25519.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
    case secp256k1([UInt8])
    case rsa(_RSA.Signing.PublicKey)

    /// Parses the form ``KeyMaterial/publicInfo(_:_:)`` shows: hex (optionally 0x) for the curves,
    /// PEM for RSA.
    init(_ spec: KeySpec, _ text: String) throws(KeyKitError) {
        let bad = KeyKitError(.invalidInput, "public_key: not a \(spec.rawValue) public key")
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let hex = trimmed.hasPrefix("0x") ? String(trimmed.dropFirst(2)) : trimmed
        switch spec {
        case .ed25519:
            guard let bytes = Hex.decode(hex), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes) else { throw bad }
            self = .ed25519(key)
        case .p256:
            guard let bytes = Hex.decode(hex),
                  let key = (try? P256.Signing.PublicKey(x963Representation: bytes)) ?? (try? P256.Signing.PublicKey(compressedRepresentation: bytes))
            else { throw bad }
            self = .p256(key)
        case .secp256k1, .bip39:
            guard let bytes = Hex.decode(hex), bytes.count == 33 || bytes.count == 65 else { throw bad }
            self = .secp256k1(bytes)
        case .rsa2048, .rsa3072, .rsa4096:
            guard let key = try? _RSA.Signing.PublicKey(pemRepresentation: trimmed) else { throw bad }
            self = .rsa(key)
        case .aes256GCM, .chaCha20Poly1305:
            throw KeyKitError(.unsupported, "spec: \(spec.rawValue) keys do not sign or verify")
        }
    }

    func verify(message: [UInt8], signature: [UInt8], options: SigningOptions) throws(KeyKitError) -> Bool {
        switch self {
        case .ed25519(let key):
            return key.isValidSignature(signature, for: message)
        case .p256(let key):
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: message)
        case .secp256k1(let key):
            guard signature.count == 64 || signature.count == 65 else {
                throw KeyKitError(.invalidInput, "signature: secp256k1 signatures are r ‖ s (64 bytes) or r ‖ s ‖ v (65), got \(signature.count)")
            }
            return Secp256k1.verify(digest: try KeyOperations.digest32(message), r: Array(signature[0..<32]), s: Array(signature[32..<64]), publicKey: key)
        case .rsa(let key):
            return (options.algorithm ?? .ps256).isValid(signature, key, message)
        }
    }
}
