import LeanFoundation
import SealKit
import SealSourceCore

/// `seal "gcpckms"`: the key material lives in `ciphertext_path`, encrypted by a Cloud KMS key;
/// the agent asks Cloud KMS to decrypt it. The file is a versioned envelope:
/// `{"version":1,"mechanism":"gcpckms","key_name":…,"key_version":…,"content":…,"ciphertext":…}`.
/// Cloud KMS finds the key version from the ciphertext itself, so files made before a rotation
/// still open; `unseal-agent rewrap --seal gcpckms` renews them under the primary version.
public struct GCPKMSSealSource: EnvelopeSealSource {
    public let kind = "gcpckms"
    public let priority: Int
    public let client: CloudKMSClient
    public let ciphertextPath: String

    public var name: String { "gcpckms:\(client.keyName)" }

    public init(client: CloudKMSClient, ciphertextPath: String, priority: Int) {
        self.client = client
        self.ciphertextPath = ciphertextPath
        self.priority = priority
    }

    public struct Envelope: Codable, Sendable {
        var version = 1
        var mechanism = "gcpckms"
        var keyName: String
        var keyVersion: String
        var content: String
        var ciphertext: String

        enum CodingKeys: String, CodingKey {
            case version, mechanism, content, ciphertext
            case keyName = "key_name"
            case keyVersion = "key_version"
        }
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        let data = try EnvelopeFile.read(ciphertextPath, seal: kind)
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: data), envelope.version == 1, envelope.mechanism == "gcpckms",
              let ciphertext = Data(base64Encoded: envelope.ciphertext) else {
            throw EnvelopeFile.notAnEnvelope(ciphertextPath, seal: kind)
        }
        // The key that made the file, as recorded in it, so that moving crypto_key to another key
        // leaves older files readable until rewrapped.
        let reader = envelope.keyName == client.keyName ? client
            : CloudKMSClient(keyName: envelope.keyName, endpoint: client.endpoint, tokens: client.tokens, timeout: client.timeout)
        var plaintext = try await reader.decrypt(Array(ciphertext))
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        return try SealMaterial(stored: Data(plaintext), origin: "seal \"gcpckms\" (\(ciphertextPath))")
    }




    public func keeping(at path: String) -> GCPKMSSealSource {
        GCPKMSSealSource(client: client, ciphertextPath: path, priority: priority)
    }

    public func seal(_ material: SealMaterial) async throws(SealSourceError) -> Envelope {
        var plaintext = Array(material.storedText.utf8)
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        let (ciphertext, version) = try await client.encrypt(plaintext)
        return Envelope(keyName: client.keyName, keyVersion: version, content: material.envelopeContent, ciphertext: Data(ciphertext).base64EncodedString())
    }
}
