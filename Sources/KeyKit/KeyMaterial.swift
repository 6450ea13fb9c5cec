import Crypto
import Foundation
import SealKit
import _CryptoExtras

/// Making keys and describing their public halves. Private material is bytes: 32-byte
/// scalars or symmetric keys, RSA's PKCS#1 DER, and for BIP39 the mnemonic's entropy.
public enum KeyMaterial {
    /// New private material for `spec`.
    public static func generate(_ spec: KeySpec) throws(KeyKitError) -> [UInt8] {
        do {
            switch spec {
            case .aes256GCM, .chaCha20Poly1305: return try SystemRandom.bytes(32)
            case .ed25519: return Array(Curve25519.Signing.PrivateKey().rawRepresentation)
            case .p256: return Array(P256.Signing.PrivateKey().rawRepresentation)
            case .secp256k1:
                while true {
                    let candidate = try SystemRandom.bytes(32)
                    if Secp256k1.isValidPrivateKey(candidate) { return candidate }
                }
            case .rsa2048, .rsa3072, .rsa4096:
                let bits = spec == .rsa2048 ? 2048 : spec == .rsa3072 ? 3072 : 4096
                return Array(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits)).derRepresentation)
            case .bip39: return try SystemRandom.bytes(32)
            }
        } catch let error as KeyKitError {
            throw error
        } catch {
            throw KeyKitError(.cryptoFailure, "generating a \(spec.rawValue) key failed")
        }
    }

    /// The entropy of a BIP39 `mnemonic` (12 to 24 English words, checksum verified).
    public static func entropy(mnemonic: String) throws(KeyKitError) -> [UInt8] {
        do {
            let entropy = try BIP39.entropy(from: mnemonic)
            return entropy.withUnsafeBytes { Array($0) }
        } catch {
            throw KeyKitError(.invalidInput, "mnemonic: \(error)")
        }
    }

    /// The mnemonic of BIP39 material.
    public static func mnemonic(_ entropy: [UInt8]) throws(KeyKitError) -> String {
        do { return try entropy.withUnsafeBytes { try BIP39.phrase(for: $0) } } catch {
            throw KeyKitError(.invalidKey, "BIP39 material of \(entropy.count) bytes is not valid entropy")
        }
    }

    /// Private material as an ephemeral key hands it out: hex, or PKCS#8 PEM for RSA.
    public static func exported(_ spec: KeySpec, _ material: [UInt8]) throws(KeyKitError) -> String {
        guard spec.isRSA else { return Hex.encode(material) }
        guard let key = try? _RSA.Signing.PrivateKey(derRepresentation: material) else {
            throw KeyKitError(.invalidKey, "the \(spec.rawValue) material is not a valid key")
        }
        return key.pkcs8PEMRepresentation
    }

    /// What a key shows of itself.
    public struct PublicInfo: Sendable, Equatable {
        public var publicKey: String?
        public var address: String?
        public var fingerprint: String?
        public var hdDerivationPath: String?
    }

    public static func publicInfo(_ spec: KeySpec, _ material: [UInt8]) throws(KeyKitError) -> PublicInfo {
        func described(_ text: String, bytes: [UInt8], address: String? = nil, path: String? = nil) -> PublicInfo {
            PublicInfo(publicKey: text, address: address, fingerprint: Hex.encode(SHA256.hash(data: bytes)), hdDerivationPath: path)
        }
        do {
            switch spec {
            case .aes256GCM, .chaCha20Poly1305:
                return PublicInfo()
            case .ed25519:
                let bytes = Array(try Curve25519.Signing.PrivateKey(rawRepresentation: material).publicKey.rawRepresentation)
                return described(Hex.encode(bytes), bytes: bytes)
            case .p256:
                let bytes = Array(try P256.Signing.PrivateKey(rawRepresentation: material).publicKey.x963Representation)
                return described(Hex.encode(bytes), bytes: bytes)
            case .secp256k1:
                let bytes = try Secp256k1.publicKey(material, compressed: false)
                return described("0x" + Hex.encode(bytes), bytes: bytes, address: Ethereum.address(uncompressedPublicKey: bytes))
            case .rsa2048, .rsa3072, .rsa4096:
                let key = try _RSA.Signing.PrivateKey(derRepresentation: material).publicKey
                return described(key.pemRepresentation, bytes: Array(key.derRepresentation))
            case .bip39:
                let derived = try HDWallet.derived(entropy: material, path: .ethereumDefault)
                return described("0x" + Hex.encode(derived.publicKey), bytes: derived.publicKey, address: derived.address, path: derived.path.description)
            }
        } catch let error as KeyKitError {
            throw error
        } catch {
            throw KeyKitError(.invalidKey, "the stored \(spec.rawValue) material is not a valid key")
        }
    }
}

extension HDWallet {
    /// What `derive` answers: the key at `path` of BIP39 `entropy`.
    public struct Derived: Sendable {
        public var path: Path
        public var privateKey: [UInt8]
        /// Uncompressed SEC1.
        public var publicKey: [UInt8]
        public var address: String
    }

    public static func derived(entropy: [UInt8], path: Path) throws(KeyKitError) -> Derived {
        let seed = try seed(mnemonic: try KeyMaterial.mnemonic(entropy))
        let key = try ExtendedKey(seed: seed).derive(path)
        return Derived(path: path, privateKey: key.privateKey, publicKey: try Secp256k1.publicKey(key.privateKey, compressed: false),
                       address: try address(privateKey: key.privateKey, coin: path.coin))
    }
}
