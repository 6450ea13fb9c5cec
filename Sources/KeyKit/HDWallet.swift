import COpenSSL
import Crypto
import Foundation
import SealKit
import _CryptoExtras

/// BIP39 seeds, BIP32 derivation and BIP44 paths and addresses on secp256k1 — the standard
/// algorithms, so a vaultd wallet and any other wallet agree on every address.
public enum HDWallet {
    /// BIP39: PBKDF2-HMAC-SHA512(NFKD(mnemonic), "mnemonic" + NFKD(passphrase), 2048) → 64 bytes.
    public static func seed(mnemonic: String, passphrase: String = "") throws(KeyKitError) -> [UInt8] {
        let words = mnemonic.decomposedStringWithCompatibilityMapping
        let salt = "mnemonic" + passphrase.decomposedStringWithCompatibilityMapping
        // BIP39 fixes 2,048 rounds; swift-crypto refuses so few unless told this is deliberate.
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(words.utf8), salt: Array(salt.utf8), using: .sha512, outputByteCount: 64, unsafeUncheckedRounds: 2048)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw KeyKitError(.cryptoFailure, "PBKDF2 failed")
        }
    }

    /// An extended private key: the key and its chain code.
    public struct ExtendedKey: Sendable {
        public var privateKey: [UInt8]
        public var chainCode: [UInt8]

        /// BIP32's master key: HMAC-SHA512("Bitcoin seed", seed).
        public init(seed: [UInt8]) throws(KeyKitError) {
            let mac = Array(HMAC<SHA512>.authenticationCode(for: seed, using: SymmetricKey(data: Array("Bitcoin seed".utf8))))
            privateKey = Array(mac[0..<32])
            chainCode = Array(mac[32..<64])
            guard Secp256k1.isValidPrivateKey(privateKey) else { throw KeyKitError(.invalidKey, "this seed gives an invalid master key (BIP32)") }
        }

        /// CKDpriv: the child at `index` (hardened from 2³¹).
        public func child(_ index: UInt32) throws(KeyKitError) -> ExtendedKey {
            var data = index >= Path.hardened ? [0] + privateKey : try Secp256k1.publicKey(privateKey, compressed: true)
            data += [UInt8(index >> 24), UInt8(truncatingIfNeeded: index >> 16), UInt8(truncatingIfNeeded: index >> 8), UInt8(truncatingIfNeeded: index)]
            let mac = Array(HMAC<SHA512>.authenticationCode(for: data, using: SymmetricKey(data: chainCode)))
            return ExtendedKey(privateKey: try Secp256k1.addScalars(Array(mac[0..<32]), privateKey), chainCode: Array(mac[32..<64]))
        }

        init(privateKey: [UInt8], chainCode: [UInt8]) {
            self.privateKey = privateKey
            self.chainCode = chainCode
        }

        public func derive(_ path: Path) throws(KeyKitError) -> ExtendedKey {
            var key = self
            for index in path.indices { key = try key.child(index) }
            return key
        }
    }

    /// A derivation path, `m/44'/60'/0'/0/0` (`'`, `h` or `H` marks a hardened index).
    public struct Path: Sendable, Equatable, CustomStringConvertible {
        public static let hardened: UInt32 = 0x8000_0000
        public static let ethereumDefault = Path(indices: [44 | hardened, 60 | hardened, hardened, 0, 0])
        public var indices: [UInt32]

        public init(indices: [UInt32]) { self.indices = indices }

        public init(parsing text: String) throws(KeyKitError) {
            let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
            guard parts.first == "m", parts.count <= 256 else {
                throw KeyKitError(.invalidInput, "hd_derivation_path must look like m/44'/60'/0'/0/0")
            }
            var indices = [UInt32]()
            for part in parts.dropFirst() {
                let isHardened = part.hasSuffix("'") || part.hasSuffix("h") || part.hasSuffix("H")
                let digits = isHardened ? part.dropLast() : part[...]
                guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                      let value = UInt32(digits), value < Path.hardened else {
                    throw KeyKitError(.invalidInput, "hd_derivation_path: '\(part)' is not an index below 2^31 (with ' for hardened)")
                }
                indices.append(isHardened ? value | Path.hardened : value)
            }
            self.indices = indices
        }

        /// BIP44: m / purpose' / coin' / account' / change / index.
        public init(purpose: UInt32 = 44, coin: UInt32 = 60, account: UInt32 = 0, change: UInt32 = 0, index: UInt32 = 0) throws(KeyKitError) {
            guard [purpose, coin, account, change, index].allSatisfy({ $0 < Path.hardened }), change < 2 else {
                throw KeyKitError(.invalidInput, "hdwallet: purpose, coin, account and index must be below 2^31, change 0 or 1")
            }
            indices = [purpose | Path.hardened, coin | Path.hardened, account | Path.hardened, change, index]
        }

        /// The BIP44 coin type, when the path has one.
        public var coin: UInt32? { indices.count >= 2 ? indices[1] & ~Path.hardened : nil }

        public var description: String {
            (["m"] + indices.map { $0 >= Path.hardened ? "\($0 & ~Path.hardened)'" : "\($0)" }).joined(separator: "/")
        }
    }

    /// The address of `privateKey`'s public key for `coin`: Ethereum's EIP-55 form for 60 (and
    /// for paths without a coin), Bitcoin P2PKH for 0 (mainnet) and 1 (testnet).
    public static func address(privateKey: [UInt8], coin: UInt32?) throws(KeyKitError) -> String {
        switch coin {
        case 0, 1:
            let compressed = try Secp256k1.publicKey(privateKey, compressed: true)
            return Base58.encodeCheck([coin == 0 ? 0x00 : 0x6F] + (try hash160(compressed)))
        default:
            return Ethereum.address(uncompressedPublicKey: try Secp256k1.publicKey(privateKey, compressed: false))
        }
    }

    /// RIPEMD-160(SHA-256(data)).
    static func hash160(_ data: [UInt8]) throws(KeyKitError) -> [UInt8] {
        let sha = Array(SHA256.hash(data: data))
        var out = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        guard let md = EVP_MD_fetch(nil, "RIPEMD160", nil) else { throw KeyKitError(.cryptoFailure, "OpenSSL has no RIPEMD-160") }
        defer { EVP_MD_free(md) }
        guard EVP_Digest(sha, sha.count, &out, &length, md, nil) == 1, length == 20 else {
            throw KeyKitError(.cryptoFailure, "RIPEMD-160 failed")
        }
        return out
    }
}

/// Ethereum's address rules.
public enum Ethereum {
    /// The last 20 bytes of Keccak-256 of the 64-byte public key, in EIP-55 mixed case.
    public static func address(uncompressedPublicKey: [UInt8]) -> String {
        let hash = Keccak256.hash(Array(uncompressedPublicKey.dropFirst()))
        return checksummed(Hex.encode(Array(hash.suffix(20))))
    }

    /// EIP-55: a hex letter is upper case where the Keccak-256 of the lower-case address has a
    /// nibble ≥ 8.
    public static func checksummed(_ lowercaseHex: String) -> String {
        let lower = lowercaseHex.lowercased()
        let hash = Keccak256.hash(Array(lower.utf8))
        var out = "0x"
        for (index, character) in lower.enumerated() {
            let nibble = (hash[index / 2] >> (index % 2 == 0 ? 4 : 0)) & 0x0F
            out.append(character.isLetter && nibble >= 8 ? Character(character.uppercased()) : character)
        }
        return out
    }
}
