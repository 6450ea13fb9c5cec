import Crypto
import Foundation
import SealKit

/// The stored form of everything vaultd encrypts: a byte that says how it was made, then
/// AES-256-GCM's nonce, ciphertext and tag. The additional authenticated data binds each
/// envelope to its purpose and place (a master key to its vault id, a secret to its path), so
/// ciphertext copied to another record fails to open.
enum Envelope {
    /// Version 1: AES-256-GCM, 12-byte random nonce, 16-byte tag — under a key of keyring term 1
    /// (or the seal key), as every envelope was before the first rotation.
    static let aes256GCMv1: UInt8 = 1
    /// Version 2: the same, after a 4-byte big-endian keyring term (2 and later, `sys/rotate`).
    static let aes256GCMv2: UInt8 = 2

    /// Seals under `key`; a `term` above 1 is written into the envelope (version 2), so the
    /// reader knows which term's key opens it.
    static func seal(_ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, aad: String, term: UInt32 = 1) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: key), authenticating: Array(aad.utf8))
        guard let combined = box.combined else { throw VaultError(.internalError, "AES-GCM produced no output") }
        if term <= 1 { return [aes256GCMv1] + Array(combined) }
        return [aes256GCMv2, UInt8(term >> 24), UInt8(term >> 16 & 0xff), UInt8(term >> 8 & 0xff), UInt8(term & 0xff)] + Array(combined)
    }

    static func seal(_ plaintext: [UInt8], key: UnsafeRawBufferPointer, aad: String, term: UInt32 = 1) throws -> [UInt8] {
        try plaintext.withUnsafeBytes { try seal($0, key: key, aad: aad, term: term) }
    }

    /// The keyring term whose key opens `envelope`: 1 for version 1; nil when it is malformed.
    static func term(of envelope: [UInt8]) -> UInt32? {
        guard let version = envelope.first else { return nil }
        switch version {
        case aes256GCMv1: return 1
        case aes256GCMv2 where envelope.count > 5: return envelope[1...4].reduce(0) { $0 << 8 | UInt32($1) }
        default: return nil
        }
    }

    /// Opens an envelope into ordinary memory (for records that are not key material).
    static func open(_ envelope: [UInt8], key: UnsafeRawBufferPointer, aad: String) throws -> [UInt8] {
        let header = envelope.first == aes256GCMv2 ? 5 : 1
        guard envelope.count > header + 12 + 16, envelope[0] == aes256GCMv1 || envelope[0] == aes256GCMv2 else {
            throw EnvelopeError.malformed
        }
        do {
            let box = try AES.GCM.SealedBox(combined: envelope.dropFirst(header))
            return Array(try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: Array(aad.utf8)))
        } catch {
            throw EnvelopeError.authenticationFailed
        }
    }

    /// Opens an envelope holding key material straight into locked memory.
    static func openSecret(_ envelope: [UInt8], key: UnsafeRawBufferPointer, aad: String) throws -> SecretBytes {
        var plain = try open(envelope, key: key, aad: aad)
        defer { plain.wipe() }
        return try SecretBytes(copying: plain)
    }
}

enum EnvelopeError: Error {
    case malformed
    case authenticationFailed
}
