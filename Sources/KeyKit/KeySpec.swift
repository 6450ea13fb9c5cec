import Foundation

/// The kinds of key a vault holds. Input is case-insensitive (`chacha20` is accepted for
/// ChaCha20-Poly1305 — always the authenticated construction, never raw ChaCha20); output is
/// the canonical spelling.
public enum KeySpec: String, CaseIterable, Sendable, Codable {
    case aes256GCM = "AES-256-GCM"
    case chaCha20Poly1305 = "ChaCha20-Poly1305"
    case ed25519 = "Ed25519"
    case secp256k1 = "secp256k1"
    case p256 = "P-256"
    case rsa2048 = "RSA-2048"
    case rsa3072 = "RSA-3072"
    case rsa4096 = "RSA-4096"
    case bip39 = "BIP39"

    public init(parsing text: String) throws(KeyKitError) {
        let wanted = text.trimmingCharacters(in: .whitespaces).lowercased()
        if wanted == "chacha20" { self = .chaCha20Poly1305; return }
        guard let spec = KeySpec.allCases.first(where: { $0.rawValue.lowercased() == wanted }) else {
            throw KeyKitError(.invalidInput, "unknown spec '\(text)': one of \(KeySpec.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = spec
    }

    public var type: KeyType {
        switch self {
        case .aes256GCM, .chaCha20Poly1305: .symmetric
        case .bip39: .hdwallet
        default: .asymmetric
        }
    }

    /// What a key of this spec may be used for; the first is the default.
    public var usages: [KeyUsage] {
        switch self {
        case .aes256GCM, .chaCha20Poly1305: [.encryptDecrypt]
        case .rsa2048, .rsa3072, .rsa4096: [.signVerify, .encryptDecrypt]
        default: [.signVerify]
        }
    }

    public var isRSA: Bool { [.rsa2048, .rsa3072, .rsa4096].contains(self) }
}

public enum KeyType: String, Sendable, Codable, CaseIterable {
    case symmetric, asymmetric, hdwallet
}

public enum KeyUsage: String, Sendable, Codable, CaseIterable {
    case encryptDecrypt = "encrypt/decrypt"
    case signVerify = "sign/verify"
}
