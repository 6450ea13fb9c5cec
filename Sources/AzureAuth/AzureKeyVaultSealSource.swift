import SealSourceCore
import Crypto
import DurableFile
import LeanFoundation
import SealKit

/// `seal "azurekeyvault"`, in one of two modes:
///
/// - **fetch** (`secret_name`): the key material *is* a Key Vault secret (a phrase, base64 or
///   hex key, or a JSON list of shares). Autonomous init creates it — only after the read said
///   `SecretNotFound`, never after a transient error, so a flaky read can never replace a key.
/// - **unwrap** (`key_name` + `ciphertext_path`): the material is encrypted locally under a
///   random AES-256-GCM data key, and that data key is wrapped by the Key Vault RSA key with
///   RSA-OAEP-256 (an RSA key can wrap ~190 bytes; a phrase or five shares do not fit). The file
///   is a versioned envelope that records the key id (with version) and the mechanism.
public struct AzureKeyVaultSealSource: StoringSealSource {
    public enum Mode: Sendable {
        case fetch(secretName: String)
        case unwrap(keyName: String, ciphertextPath: String)
    }

    public let kind = "azurekeyvault"
    public let priority: Int
    public let mode: Mode
    public let client: KeyVaultClient
    public let credentialName: String
    public let skippedCredentials: [String]

    public var name: String {
        switch mode {
        case .fetch(let secret): "azurekeyvault:\(client.vaultURI)/secrets/\(secret)"
        case .unwrap(let key, _): "azurekeyvault:\(client.vaultURI)/keys/\(key)"
        }
    }

    public init(mode: Mode, client: KeyVaultClient, credentialName: String, skippedCredentials: [String] = [], priority: Int) {
        self.mode = mode
        self.client = client
        self.credentialName = credentialName
        self.skippedCredentials = skippedCredentials
        self.priority = priority
    }

    struct Envelope: Codable {
        var version = 1
        var mechanism = "azurekeyvault"
        var keyID: String
        var algorithm = "RSA-OAEP-256"
        var content: String
        /// The AES-256-GCM data key, wrapped by Key Vault (base64).
        var wrappedKey: String
        /// nonce ‖ ciphertext ‖ tag of the material under the data key (base64).
        var ciphertext: String

        enum CodingKeys: String, CodingKey {
            case version, mechanism, algorithm, content, ciphertext
            case keyID = "key_id"
            case wrappedKey = "wrapped_key"
        }
    }

    /// Binds the local ciphertext to this mechanism and envelope version.
    static let additionalData = Array("unseal-agent azurekeyvault envelope v1".utf8)

    static func sourceError(_ error: AzureError, setting: String) -> SealSourceError {
        SealSourceError(error.errorClass, "seal \"azurekeyvault\": \(error.message)", setting: setting)
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        switch mode {
        case .fetch(let secretName):
            let value: String
            do { value = try await client.getSecret(secretName) } catch { throw Self.sourceError(error, setting: "secret_name") }
            return try SealMaterial(stored: Data(value.utf8), origin: "seal \"azurekeyvault\" secret '\(secretName)'")
        case .unwrap(_, let path):
            let data = try EnvelopeFile.read(path, seal: kind)
            guard let envelope = try? JSONDecoder().decode(Envelope.self, from: data), envelope.version == 1, envelope.mechanism == "azurekeyvault",
                  envelope.algorithm == "RSA-OAEP-256", let wrapped = Data(base64Encoded: envelope.wrappedKey),
                  let sealed = Data(base64Encoded: envelope.ciphertext), let box = try? AES.GCM.SealedBox(combined: sealed) else {
                throw EnvelopeFile.notAnEnvelope(path, seal: kind)
            }
            var dataKey: [UInt8]
            do { dataKey = try await client.unwrapKey(envelope.keyID, blob: Array(wrapped)) } catch { throw Self.sourceError(error, setting: "key_name") }
            defer { for index in dataKey.indices { dataKey[index] = 0 } }
            guard dataKey.count == 32, var plaintext = try? Array(AES.GCM.open(box, using: SymmetricKey(data: dataKey), authenticating: Self.additionalData)) else {
                throw SealSourceError(.needsFix, "seal \"azurekeyvault\": \(path) does not decrypt with the data key Key Vault unwrapped (the file is corrupt or was made for another key)", setting: "ciphertext_path")
            }
            defer { for index in plaintext.indices { plaintext[index] = 0 } }
            return try SealMaterial(stored: Data(plaintext), origin: "seal \"azurekeyvault\" (\(path))")
        }
    }

    public var localPath: String? {
        switch mode {
        case .fetch: nil   // nothing of it is on this host
        case .unwrap(_, let path): path
        }
    }

    public func pending() -> (any StoringSealSource)? {
        guard case .unwrap(let key, let path) = mode else { return nil }
        return AzureKeyVaultSealSource(mode: .unwrap(keyName: key, ciphertextPath: Self.pendingPath(of: path)), client: client,
                                       credentialName: credentialName, skippedCredentials: skippedCredentials, priority: priority)
    }

    public func storeIfAbsent(_ material: SealMaterial) async throws(SealSourceError) -> StoreOutcome {
        switch mode {
        case .fetch(let secretName):
            // Key Vault has no create-if-absent: create only after the read said SecretNotFound
            // (never after a transient error), then read back. A writer that raced us and wrote
            // last is seen in that read: its material is what the vault holds, so it is used.
            do {
                return .alreadyHeld(try await fetch())
            } catch where error.errorClass == .notFound {}
            let text = material.storedText
            do { try await client.setSecret(secretName, value: text) } catch { throw Self.sourceError(error, setting: "secret_name") }
            let held = try await fetch()
            return held == material ? .stored : .alreadyHeld(held)
        case .unwrap(_, let path):
            if FileManager.default.fileExists(atPath: path) { return .alreadyHeld(try await fetch()) }
            if try EnvelopeFile.write(try await seal(material), to: path, seal: kind, replacing: false) { return .stored }
            return .alreadyHeld(try await fetch())
        }
    }

    public func replace(with material: SealMaterial) async throws(SealSourceError) {
        switch mode {
        case .fetch(let secretName):
            do { try await client.setSecret(secretName, value: material.storedText) } catch { throw Self.sourceError(error, setting: "secret_name") }
        case .unwrap(_, let path):
            _ = try EnvelopeFile.write(try await seal(material), to: path, seal: kind, replacing: true)
        }
    }

    /// `material` under a fresh AES-256-GCM data key wrapped by Key Vault (unwrap mode).
    private func seal(_ material: SealMaterial) async throws(SealSourceError) -> Envelope {
        guard case .unwrap(let keyName, _) = mode else { preconditionFailure("seal(_:) is for unwrap mode") }
        var dataKey = [UInt8](repeating: 0, count: 32)
        var plaintext = Array(material.storedText.utf8)
        defer {
            for index in dataKey.indices { dataKey[index] = 0 }
            for index in plaintext.indices { plaintext[index] = 0 }
        }
        do { dataKey = try SystemRandom.bytes(32) } catch { throw SealSourceError(.retryable, "seal \"azurekeyvault\": no randomness: \(error)") }
        let wrapped: (keyID: String, blob: [UInt8])
        do { wrapped = try await client.wrapKey(keyName, plaintext: dataKey) } catch { throw Self.sourceError(error, setting: "key_name") }
        guard let sealed = try? AES.GCM.seal(plaintext, using: SymmetricKey(data: dataKey), authenticating: Self.additionalData).combined else {
            throw SealSourceError(.retryable, "seal \"azurekeyvault\": local encryption failed")
        }
        return Envelope(keyID: wrapped.keyID, content: material.envelopeContent, wrappedKey: Data(wrapped.blob).base64EncodedString(), ciphertext: sealed.base64EncodedString())
    }
}
