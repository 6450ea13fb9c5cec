import Crypto
import Foundation
import SealKit

/// The stored form of everything vaultd encrypts: a byte that says how it was made, then
/// AES-256-GCM's nonce, ciphertext and tag. The additional authenticated data binds each
/// envelope to its purpose and place (a master key to its vault id, a secret to its path), so
/// ciphertext copied to another record fails to open.
enum Envelope {
    /// Version 1: AES-256-GCM, 12-byte random nonce, 16-byte tag.
    static let aes256GCMv1: UInt8 = 1

    static func seal(_ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, aad: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: key), authenticating: Array(aad.utf8))
        guard let combined = box.combined else { throw VaultError(.internalError, "AES-GCM produced no output") }
        return [aes256GCMv1] + Array(combined)
    }

    static func seal(_ plaintext: [UInt8], key: UnsafeRawBufferPointer, aad: String) throws -> [UInt8] {
        try plaintext.withUnsafeBytes { try seal($0, key: key, aad: aad) }
    }

    /// Opens an envelope into ordinary memory (for records that are not key material).
    static func open(_ envelope: [UInt8], key: UnsafeRawBufferPointer, aad: String) throws -> [UInt8] {
        guard envelope.count > 1 + 12 + 16, envelope[0] == aes256GCMv1 else {
            throw EnvelopeError.malformed
        }
        do {
            let box = try AES.GCM.SealedBox(combined: envelope.dropFirst())
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
