import SealKit
import LeanFoundation
import DurableFile

/// The `ciphertext_path` file of a wrapping seal (`awskms`, `azurekeyvault`): a small JSON
/// envelope that says how it was made, read whole and written atomically (mode 0600).
public enum EnvelopeFile {
    /// The file's bytes; a missing file is `.notFound` (autonomous init may create it).
    public static func read(_ path: String, seal: String) throws(SealSourceError) -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !FileManager.default.fileExists(atPath: path) {
                throw SealSourceError(.notFound, "seal \"\(seal)\": \(path) does not exist (create it with 'unseal-agent wrap --seal \(seal)')", setting: "ciphertext_path")
            }
            throw SealSourceError(.needsFix, "seal \"\(seal)\": cannot read \(path)", setting: "ciphertext_path")
        }
        return data
    }

    /// The error for a file that is not a version-1 envelope of this seal.
    public static func notAnEnvelope(_ path: String, seal: String) -> SealSourceError {
        SealSourceError(.needsFix, "seal \"\(seal)\": \(path) is not an \(seal) envelope (version 1); re-create it with 'unseal-agent wrap --seal \(seal)'", setting: "ciphertext_path")
    }

    /// Writes `envelope` as sorted JSON plus a newline: temporary file, fsync, then `rename`
    /// (replacing) or `link` (create-if-absent), fsync of the directory. Returns `false` when
    /// `replacing` is off and the file exists: it is left as it is.
    public static func write<Envelope: Encodable>(_ envelope: Envelope, to path: String, seal: String, replacing: Bool) throws(SealSourceError) -> Bool {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(Array(try encoder.encode(envelope)) + [0x0a], to: path, mode: 0o600, replacing: replacing)
            return true
        } catch let failure as AtomicFile.Failure where failure.alreadyExists {
            return false
        } catch {
            throw SealSourceError(.retryable, "seal \"\(seal)\": cannot write \(path): \(error)", setting: "ciphertext_path")
        }
    }
}

/// A seal whose material is an envelope file at `ciphertextPath`, made by a key elsewhere (a KMS,
/// Key Vault's sibling Transit, an HSM). The file handling is the same for all of them and lives
/// here: init's create-if-absent store (an envelope in place is kept, and no remote call is
/// spent on a new one), the operator's replace, and the pending companion a rekey writes.
public protocol EnvelopeSealSource: StoringSealSource {
    associatedtype Envelope: Encodable
    var ciphertextPath: String { get }
    /// `material` encrypted by the key, as the envelope that records how.
    func seal(_ material: SealMaterial) async throws(SealSourceError) -> Envelope
    /// The same seal keeping its envelope at `path`.
    func keeping(at path: String) -> Self
}

extension EnvelopeSealSource {
    public var localPath: String? { ciphertextPath }

    public func pending() -> (any StoringSealSource)? { keeping(at: Self.pendingPath(of: ciphertextPath)) }

    public func storeIfAbsent(_ material: SealMaterial) async throws(SealSourceError) -> StoreOutcome {
        if FileManager.default.fileExists(atPath: ciphertextPath) { return .alreadyHeld(try await fetch()) }
        if try EnvelopeFile.write(try await seal(material), to: ciphertextPath, seal: kind, replacing: false) { return .stored }
        return .alreadyHeld(try await fetch())
    }

    public func replace(with material: SealMaterial) async throws(SealSourceError) {
        _ = try EnvelopeFile.write(try await seal(material), to: ciphertextPath, seal: kind, replacing: true)
    }
}
