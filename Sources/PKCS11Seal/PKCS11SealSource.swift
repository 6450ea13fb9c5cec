import Crypto
import LeanFoundation
import SealKit
import SealSourceCore

/// What `seal "pkcs11"` needs to reach its key: Vault's setting names.
public struct PKCS11Settings: Sendable {
    public enum Token: Sendable { case slot(UInt), label(String) }
    public enum PIN: Sendable { case value(CloakedText), file(String) }
    public enum Mechanism: String, Sendable, CaseIterable {
        /// The HSM's AES key encrypts the material itself (12-byte IV, 128-bit tag).
        case aesGCM = "CKM_AES_GCM"
        /// The HSM's RSA key pair wraps a fresh AES-256-GCM data key (the material is larger
        /// than RSA-OAEP can take): the public key wraps, the private key unwraps.
        case rsaOAEP = "CKM_RSA_PKCS_OAEP"
    }

    /// RSA-OAEP's hash and MGF1 hash (Vault's `rsa_oaep_hash`): SHA-256 by default; SHA-1 for
    /// HSMs that offer nothing else (SoftHSM2 2.6).
    public enum OAEPHash: String, Sendable, CaseIterable { case sha1, sha256 }

    public var lib: String
    public var token: Token
    public var pin: PIN
    public var keyLabel: String
    public var mechanism: Mechanism
    public var oaepHash: OAEPHash

    public init(lib: String, token: Token, pin: PIN, keyLabel: String, mechanism: Mechanism, oaepHash: OAEPHash = .sha256) {
        self.lib = lib
        self.token = token
        self.pin = pin
        self.keyLabel = keyLabel
        self.mechanism = mechanism
        self.oaepHash = oaepHash
    }
}

/// `seal "pkcs11"`: the key material lives in `ciphertext_path`, encrypted by a key that never
/// leaves an HSM, reached through its PKCS#11 module (loaded at run time: an agent without this
/// seal loads no HSM library).
///
/// The file is a versioned envelope: `{"version":1,"mechanism":"pkcs11","algorithm":"CKM_AES_GCM"|
/// "CKM_RSA_PKCS_OAEP","key_label":…,"content":…,"iv"|"wrapped_key"+"oaep_hash":…,"ciphertext":…}` (base64).
/// AES-GCM binds `unseal-agent pkcs11 envelope v1` as additional data.
public struct PKCS11SealSource: EnvelopeSealSource {
    public let kind = "pkcs11"
    public let priority: Int
    public let settings: PKCS11Settings
    public let ciphertextPath: String

    public var name: String { "pkcs11:\(settings.keyLabel)" }

    public init(settings: PKCS11Settings, ciphertextPath: String, priority: Int) {
        self.settings = settings
        self.ciphertextPath = ciphertextPath
        self.priority = priority
    }

    static let additionalData = Array("unseal-agent pkcs11 envelope v1".utf8)

    public struct Envelope: Codable, Sendable {
        var version = 1
        var mechanism = "pkcs11"
        var algorithm: String
        var keyLabel: String
        var content: String
        var iv: String?
        var wrappedKey: String?
        var oaepHash: String?
        var ciphertext: String

        enum CodingKeys: String, CodingKey {
            case version, mechanism, algorithm, content, iv, ciphertext
            case keyLabel = "key_label"
            case wrappedKey = "wrapped_key"
            case oaepHash = "oaep_hash"
        }
    }

    func pin() throws(SealSourceError) -> String {
        switch settings.pin {
        case .value(let cloaked):
            do { return try cloaked.reveal() } catch { throw SealSourceError(.needsFix, "seal \"pkcs11\": the cloaked PIN was damaged in memory", setting: "pin") }
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SealSourceError(.needsFix, "seal \"pkcs11\": cannot read the PIN file \(path)", setting: "pin_file")
            }
            return String(decoding: data, as: UTF8.self).trimmed
        }
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        let data = try EnvelopeFile.read(ciphertextPath, seal: kind)
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: data), envelope.version == 1, envelope.mechanism == "pkcs11",
              let algorithm = PKCS11Settings.Mechanism(rawValue: envelope.algorithm), let ciphertext = Data(base64Encoded: envelope.ciphertext) else {
            throw EnvelopeFile.notAnEnvelope(ciphertextPath, seal: kind)
        }
        let module = try PKCS11Module.open(settings.lib)
        var plaintext: [UInt8]
        switch algorithm {
        case .aesGCM:
            guard let iv = envelope.iv.flatMap({ Data(base64Encoded: $0) }) else { throw EnvelopeFile.notAnEnvelope(ciphertextPath, seal: kind) }
            plaintext = try module.withSession(token: settings.token, pin: try pin()) { session throws(SealSourceError) in
                try session.aesGCM(key: try session.key(4, label: envelope.keyLabel), encrypt: false, iv: Array(iv), aad: Self.additionalData, input: Array(ciphertext))
            }
        case .rsaOAEP:
            guard let wrapped = envelope.wrappedKey.flatMap({ Data(base64Encoded: $0) }), let box = try? AES.GCM.SealedBox(combined: ciphertext),
                  let hash = PKCS11Settings.OAEPHash(rawValue: envelope.oaepHash ?? "sha256") else {
                throw EnvelopeFile.notAnEnvelope(ciphertextPath, seal: kind)
            }
            var dataKey = try module.withSession(token: settings.token, pin: try pin()) { session throws(SealSourceError) in
                try session.rsaOAEP(key: try session.key(3, label: envelope.keyLabel), encrypt: false, hash: hash, input: Array(wrapped))
            }
            defer { for index in dataKey.indices { dataKey[index] = 0 } }
            do {
                plaintext = Array(try AES.GCM.open(box, using: SymmetricKey(data: dataKey), authenticating: Self.additionalData))
            } catch {
                throw SealSourceError(.needsFix, "seal \"pkcs11\": \(ciphertextPath) does not open with the unwrapped data key: a damaged file", setting: "ciphertext_path")
            }
        }
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        return try SealMaterial(stored: Data(plaintext), origin: "seal \"pkcs11\" (\(ciphertextPath))")
    }




    public func keeping(at path: String) -> PKCS11SealSource {
        PKCS11SealSource(settings: settings, ciphertextPath: path, priority: priority)
    }

    public func seal(_ material: SealMaterial) throws(SealSourceError) -> Envelope {
        var plaintext = Array(material.storedText.utf8)
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        let module = try PKCS11Module.open(settings.lib)
        switch settings.mechanism {
        case .aesGCM:
            var generator = SystemRandomNumberGenerator()
            let iv = (0..<12).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let ciphertext = try module.withSession(token: settings.token, pin: try pin()) { session throws(SealSourceError) in
                try session.aesGCM(key: try session.key(4, label: settings.keyLabel), encrypt: true, iv: iv, aad: Self.additionalData, input: plaintext)
            }
            return Envelope(algorithm: settings.mechanism.rawValue, keyLabel: settings.keyLabel, content: material.envelopeContent,
                            iv: Data(iv).base64EncodedString(), ciphertext: Data(ciphertext).base64EncodedString())
        case .rsaOAEP:
            let dataKey = SymmetricKey(size: .bits256)
            let sealed: Data
            do {
                guard let combined = try AES.GCM.seal(plaintext, using: dataKey, authenticating: Self.additionalData).combined else {
                    throw SealSourceError(.needsFix, "seal \"pkcs11\": AES-GCM gave no combined box", setting: nil)
                }
                sealed = combined
            } catch let error as SealSourceError {
                throw error
            } catch {
                throw SealSourceError(.needsFix, "seal \"pkcs11\": AES-GCM failed: \(error)", setting: nil)
            }
            var keyBytes = dataKey.withUnsafeBytes { Array($0) }
            defer { for index in keyBytes.indices { keyBytes[index] = 0 } }
            let wrapped = try module.withSession(token: settings.token, pin: try pin()) { session throws(SealSourceError) in
                try session.rsaOAEP(key: try session.key(2, label: settings.keyLabel), encrypt: true, hash: settings.oaepHash, input: keyBytes)
            }
            return Envelope(algorithm: settings.mechanism.rawValue, keyLabel: settings.keyLabel, content: material.envelopeContent,
                            wrappedKey: Data(wrapped).base64EncodedString(), oaepHash: settings.oaepHash.rawValue, ciphertext: sealed.base64EncodedString())
        }
    }
}
