import LeanFoundation
import SealKit
import SealSourceCore

/// `seal "transit"`: the key material lives in `ciphertext_path`, encrypted by a key of another
/// Vault's (or OpenBao's) Transit engine; the agent asks that Vault to decrypt it. As with KMS,
/// the vault being unsealed never sees the Transit token.
///
/// The file is a versioned JSON envelope that says how it was made:
/// `{"version":1,"mechanism":"transit","address":…,"mount_path":…,"key_name":…,"key_version":N,
/// "content":"key"|"shares","ciphertext":"vault:vN:…"}`. Transit keeps every version of a key
/// it has not been told to retire, so a file made before a rotation still opens;
/// `unseal-agent rewrap --seal transit` renews it under the latest version.
public struct TransitSealSource: EnvelopeSealSource, MaintainedSealSource {
    public let kind = "transit"
    public let priority: Int
    public let client: TransitClient
    public let ciphertextPath: String
    /// `disable_renewal = false` (the default): renew the token while the agent runs.
    public let renewToken: Bool

    public var name: String { "transit:\(client.address)/\(client.mountPath)/keys/\(client.keyName)" }

    public init(client: TransitClient, ciphertextPath: String, renewToken: Bool, priority: Int) {
        self.client = client
        self.ciphertextPath = ciphertextPath
        self.renewToken = renewToken
        self.priority = priority
    }

    public struct Envelope: Codable, Sendable {
        var version = 1
        var mechanism = "transit"
        var address: String
        var mountPath: String
        var keyName: String
        var keyVersion: Int
        var content: String
        var ciphertext: String

        enum CodingKeys: String, CodingKey {
            case version, mechanism, address, content, ciphertext
            case mountPath = "mount_path"
            case keyName = "key_name"
            case keyVersion = "key_version"
        }
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        let data = try EnvelopeFile.read(ciphertextPath, seal: kind)
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: data), envelope.version == 1, envelope.mechanism == "transit",
              TransitClient.keyVersion(of: envelope.ciphertext) != nil else {
            throw EnvelopeFile.notAnEnvelope(ciphertextPath, seal: kind)
        }
        // The key (and mount) that made the file, as recorded in it: after key_name moves to a
        // new key, files of the old one still open until `unseal-agent rewrap` renews them.
        var plaintext = try await client.decrypt(envelope.ciphertext, keyName: envelope.keyName, mountPath: envelope.mountPath)
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        return try SealMaterial(stored: Data(plaintext), origin: "seal \"transit\" (\(ciphertextPath))")
    }




    public func keeping(at path: String) -> TransitSealSource {
        TransitSealSource(client: client, ciphertextPath: path, renewToken: renewToken, priority: priority)
    }

    /// `material` encrypted by Transit under the key's latest version, as the envelope that
    /// records how.
    public func seal(_ material: SealMaterial) async throws(SealSourceError) -> Envelope {
        var plaintext = Array(material.storedText.utf8)
        defer { for index in plaintext.indices { plaintext[index] = 0 } }
        let ciphertext = try await client.encrypt(plaintext)
        guard let version = TransitClient.keyVersion(of: ciphertext) else {
            throw SealSourceError(.needsFix, "seal \"transit\": \(client.address) answered encrypt with a ciphertext that is not vault:vN:…", setting: "address")
        }
        return Envelope(address: client.address, mountPath: client.mountPath, keyName: client.keyName, keyVersion: version,
                        content: material.envelopeContent, ciphertext: ciphertext)
    }
}

extension TransitSealSource {
    /// Keeps the token alive as Vault's seal does: look it up, renew it, then renew again at
    /// two thirds of each new lease. A token that cannot be renewed is warned about once, with
    /// when it expires; failures are retried with backoff and reported, never fatal — the agent
    /// goes on unsealing with the token while it lives.
    public func maintain(log: @escaping @Sendable (_ level: String, _ message: String) -> Void) async {
        guard renewToken else { return }
        var warned = false      // about a token that cannot be renewed
        var announced = false   // the first renewal (later ones only after a failure)
        var failures = 0
        while !Task.isCancelled {
            var wait: Duration
            do {
                let state = try await client.lookupSelf()
                if state.ttl == 0 {
                    // A token that never expires (root, or created without a TTL). With a token
                    // file it may be replaced by one that does: look again later.
                    if case .value = client.token { return }
                    wait = .seconds(300)
                } else if !state.renewable {
                    if !warned {
                        log("warning", "seal \"transit\": the token is not renewable and expires in \(state.ttl) s; after that the agent cannot unseal from \(name): use a renewable or periodic token, or a token_file kept fresh (Vault Agent), or set disable_renewal = true if something else renews it")
                        warned = true
                    }
                    wait = .seconds(max(5, min(state.ttl / 2, 300)))
                } else {
                    let renewed = try await client.renewSelf()
                    if failures > 0 || !announced { log("info", "seal \"transit\": token renewed for \(renewed.ttl) s") }
                    announced = true
                    failures = 0
                    wait = .seconds(max(1, renewed.ttl * 2 / 3))
                }
            } catch {
                failures += 1
                wait = .seconds(min(60, 1 << min(failures, 6)))
                log("warning", "seal \"transit\": token renewal failed (\(error.message)); trying again in \(wait.components.seconds) s")
            }
            try? await Task.sleep(for: wait)
        }
    }
}
