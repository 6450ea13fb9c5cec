import Crypto
import LeanFoundation

/// A random AES-256 key that lives only in this process's locked memory and cloaks other
/// secrets while they sit idle.
///
/// A heap scan, a swap file or a stray log of a struct finds only ciphertext; the plaintext
/// exists for the length of one ``Cloaked/reveal(_:)`` call.
public final class CloakingKey: Sendable {
    private let key: SecretBytes

    /// A fresh key from the system CSPRNG.
    public init() throws(SealKitError) {
        key = try SecretBytes.random(count: 32)
    }

    /// Whether the key's page is locked in RAM (`mlock` can fail under a low `RLIMIT_MEMLOCK`).
    public var isLocked: Bool { key.isLocked }

    /// The key shared by a process's cloaked values, created at first use.
    public static let process: CloakingKey = {
        do { return try CloakingKey() } catch {
            fatalError("cannot create the in-memory cloaking key: \(error)")
        }
    }()

    fileprivate func seal(_ plaintext: UnsafeRawBufferPointer) throws(SealKitError) -> [UInt8] {
        do {
            let symmetric = key.withUnsafeBytes { SymmetricKey(data: $0) }
            let box = try AES.GCM.seal(plaintext, using: symmetric)
            guard let combined = box.combined else {
                throw SealKitError(.cloakingFailure, "AES-GCM produced no combined form")
            }
            return Array(combined)
        } catch let error as SealKitError {
            throw error
        } catch {
            throw SealKitError(.cloakingFailure, "could not cloak key material: \(error)")
        }
    }

    fileprivate func open(_ sealed: [UInt8], count: Int) throws(SealKitError) -> SecretBytes {
        do {
            let symmetric = key.withUnsafeBytes { SymmetricKey(data: $0) }
            var plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: symmetric)
            defer { plaintext.resetBytes(in: 0..<plaintext.count) }
            guard plaintext.count == count else {
                throw SealKitError(.cloakingFailure, "cloaked value has the wrong length")
            }
            var secret = try SecretBytes(zeroedCount: count)
            secret.withUnsafeMutableBytes { out in _ = plaintext.copyBytes(to: out) }
            return secret
        } catch let error as SealKitError {
            throw error
        } catch {
            throw SealKitError(.cloakingFailure, "cloaked key material failed to authenticate")
        }
    }
}

/// A secret kept encrypted under a ``CloakingKey`` and revealed only inside a closure.
///
/// ```swift
/// let cloaked = try Cloaked(consume masterKey)
/// let tag = try cloaked.reveal { key in HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)) }
/// ```
public struct Cloaked: ~Copyable, Sendable {
    private let sealed: [UInt8]
    private let cloak: CloakingKey
    /// The number of plaintext bytes.
    public let count: Int

    /// Cloaks `secret`, which is consumed (and so wiped).
    public init(_ secret: consuming SecretBytes, under cloak: CloakingKey = .process) throws(SealKitError) {
        self.count = secret.count
        self.cloak = cloak
        self.sealed = try secret.withUnsafeBytes { (raw) throws(SealKitError) -> [UInt8] in
            try cloak.seal(raw)
        }
    }

    /// Rebuilds a cloaked value from its parts (tests use it to tamper with ciphertext).
    package init(sealed: [UInt8], count: Int, cloak: CloakingKey) {
        self.sealed = sealed
        self.count = count
        self.cloak = cloak
    }

    /// The stored nonce, ciphertext and tag.
    package var sealedBytes: [UInt8] { sealed }

    /// Decrypts into locked memory, lends the plaintext to `body`, and wipes it afterwards.
    public func reveal<R: ~Copyable, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws -> R {
        let plaintext = try cloak.open(sealed, count: count)
        return try plaintext.withUnsafeBytes { raw throws(E) in try body(raw) }
    }

    /// Decrypts into a new ``SecretBytes`` owned by the caller.
    public func revealed() throws(SealKitError) -> SecretBytes {
        try cloak.open(sealed, count: count)
    }
}

/// A ``Cloaked`` secret behind a reference, so it can live in a dictionary or an array and be
/// shared between tasks (vaults' master keys, keyring terms, audit devices' HMAC keys).
public final class CloakedKey: Sendable {
    public let key: Cloaked
    /// Cloaks `key`, which is consumed (and so wiped).
    public init(_ key: consuming SecretBytes) throws(SealKitError) { self.key = try Cloaked(key) }
}
