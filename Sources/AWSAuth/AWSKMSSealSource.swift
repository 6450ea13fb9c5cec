import SealSourceCore
import SealKit
import DurableFile
import LeanFoundation

/// `seal "awskms"`: the key material lives in `ciphertext_path`, encrypted by AWS KMS; the
/// agent asks KMS to decrypt it (`kms:Decrypt`, bound to `encryption_context`). The vault
/// itself never sees AWS credentials.
///
/// The file is a small versioned JSON envelope that says how it was made:
/// `{"version":1,"mechanism":"awskms","key_id":…,"region":…,"encryption_context":{…},
/// "content":"key"|"shares","ciphertext":"<base64>"}`.
public struct AWSKMSSealSource: EnvelopeSealSource {
    public let kind = "awskms"
    public let priority: Int
    public let keyID: String
    public let ciphertextPath: String
    public let encryptionContext: [String: String]
    public let region: String
    public let client: KMSClient
    public let chain: AWSCredentialChain?

    public var name: String { "awskms:\(keyID)" }

    public init(keyID: String, ciphertextPath: String, encryptionContext: [String: String], region: String, client: KMSClient, chain: AWSCredentialChain?, priority: Int) {
        self.keyID = keyID
        self.ciphertextPath = ciphertextPath
        self.encryptionContext = encryptionContext
        self.region = region
        self.client = client
        self.chain = chain
        self.priority = priority
    }

    public struct Envelope: Codable, Sendable {
        var version = 1
        var mechanism = "awskms"
        var keyID: String
        var region: String
        var encryptionContext: [String: String]
        var content: String
        var ciphertext: String

        enum CodingKeys: String, CodingKey {
            case version, mechanism, region, content, ciphertext
            case keyID = "key_id"
            case encryptionContext = "encryption_context"
        }
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        let data = try EnvelopeFile.read(ciphertextPath, seal: kind)
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: data), envelope.version == 1, envelope.mechanism == "awskms",
              let blob = Data(base64Encoded: envelope.ciphertext) else {
            throw EnvelopeFile.notAnEnvelope(ciphertextPath, seal: kind)
        }
        let result: KMSClient.DecryptResult
        do {
            // The key that made the file, as recorded in it: after kms_key_id moves to a new key
            // (rotation), files of the old one still open until `unseal-agent rewrap` renews them.
            result = try await client.decrypt(Array(blob), keyID: envelope.keyID.isEmpty ? keyID : envelope.keyID, context: encryptionContext)
        } catch {
            var message = "seal \"awskms\": \(error.message)"
            if error.serviceCode == "InvalidCiphertextException" {
                message += " (encryption_context here: \(Self.describe(encryptionContext)); the file was made with: \(Self.describe(envelope.encryptionContext)))"
            }
            throw SealSourceError(error.errorClass, message, setting: "encryption_context")
        }
        var plaintext = result.plaintext
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        return try SealMaterial(stored: Data(plaintext), origin: "seal \"awskms\" (\(ciphertextPath))")
    }




    public func keeping(at path: String) -> AWSKMSSealSource {
        AWSKMSSealSource(keyID: keyID, ciphertextPath: path, encryptionContext: encryptionContext, region: region,
                         client: client, chain: chain, priority: priority)
    }

    /// `material` encrypted by KMS, as the envelope that records how.
    public func seal(_ material: SealMaterial) async throws(SealSourceError) -> Envelope {
        var plaintext = Array(material.storedText.utf8)
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        let encrypted: (ciphertext: [UInt8], keyID: String)
        do {
            encrypted = try await client.encrypt(plaintext, keyID: keyID, context: encryptionContext)
        } catch {
            throw SealSourceError(error.errorClass, "seal \"awskms\": \(error.message)", setting: "kms_key_id")
        }
        return Envelope(keyID: encrypted.keyID, region: region, encryptionContext: encryptionContext, content: material.envelopeContent,
                        ciphertext: Data(encrypted.ciphertext).base64EncodedString())
    }

    static func describe(_ context: [String: String]) -> String {
        context.isEmpty ? "{}" : "{" + context.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
    }
}
