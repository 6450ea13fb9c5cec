import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport

/// The data plane over HTTP against a real vaultd: keys of every spec, what they do, the
/// defects of the original Provide vault (each refused here), tokens with capabilities.
@Suite("vaultd keys and operations")
struct VaultdKeysTests {
    /// A started, initialised and unsealed vaultd with one vault.
    struct Fixture {
        let vaultd: VaultdHarness
        let sealKey: String
        let root: VaultClient
        let vaultID: String

        static func start(extra: String = "") async throws -> Fixture {
            let vaultd = try VaultdHarness(extra: extra)
            try await vaultd.start()
            let (key, token, _) = try await VaultdDurabilityTests.initialize(vaultd)
            let root = try vaultd.client(token: token)
            let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": "app", "description": "keys test"]) as? [String: Any]
            return Fixture(vaultd: vaultd, sealKey: key, root: root, vaultID: try #require(vault?["id"] as? String))
        }

        var keys: String { "/api/v1/vaults/\(vaultID)/keys" }

        func create(_ spec: String, _ extra: [String: Any] = [:]) async throws -> [String: Any] {
            let body = ["name": "\(spec) key", "spec": spec].merging(extra) { $1 }
            // RSA key generation searches for primes: seconds for 4096 bits in a debug build on a busy machine.
            let timeout: Duration = spec.uppercased().hasPrefix("RSA") ? .seconds(300) : .seconds(30)
            return try #require(try await root.call("POST", keys, body: body, timeout: timeout) as? [String: Any])
        }

        func post(_ path: String, _ body: [String: Any], client: VaultClient? = nil) async throws -> (Int, [String: Any]) {
            let (status, json) = try await (client ?? root).send("POST", path, body: body)
            return (status, json as? [String: Any] ?? [:])
        }
    }

    static func errors(_ json: [String: Any]) -> String { (json["errors"] as? [String])?.joined(separator: "; ") ?? "" }

    static let allSpecs = ["AES-256-GCM", "ChaCha20-Poly1305", "Ed25519", "secp256k1", "P-256", "RSA-2048", "RSA-3072", "RSA-4096", "BIP39"]

    @Test("every spec: canonical spec, type and usage; encrypt/decrypt or sign/verify round trips; filters and pages")
    func everySpec() async throws {
        let fixture = try await Fixture.start()
        defer { fixture.vaultd.remove() }
        // Case-insensitive input, canonical output; ChaCha20 is an alias of the AEAD.
        for (input, canonical) in [("aes-256-gcm", "AES-256-GCM"), ("CHACHA20", "ChaCha20-Poly1305"), ("ed25519", "Ed25519"),
                                   ("SECP256K1", "secp256k1"), ("p-256", "P-256"), ("rsa-2048", "RSA-2048"), ("bip39", "BIP39")] {
            let key = try await fixture.create(input)
            #expect(key["spec"] as? String == canonical)
            #expect(key["vault_id"] as? String == fixture.vaultID)
            let path = "\(fixture.keys)/\(key["id"] as! String)"
            if ["AES-256-GCM", "ChaCha20-Poly1305"].contains(canonical) {
                #expect(key["type"] as? String == "symmetric" && key["usage"] as? String == "encrypt/decrypt" && key["public_key"] == nil)
                let (status, sealed) = try await fixture.post("\(path)/encrypt", ["data": "attack at dawn"])
                #expect(status == 200)
                let hex = try #require(sealed["data"] as? String)
                #expect(hex.count == 2 * (12 + 14 + 16))
                let (_, opened) = try await fixture.post("\(path)/decrypt", ["data": hex])
                #expect(opened["data"] as? String == "attack at dawn")
                // A caller's nonce is refused by a key that chooses its own (the default): the
                // same nonce twice would hand out plaintext₁ ⊕ plaintext₂.
                let (refused, refusal) = try await fixture.post("\(path)/encrypt", ["data": "x", "nonce": String(repeating: "ab", count: 12)])
                #expect(refused == 422 || refused == 400, "\(refused)")
                #expect(Self.errors(refusal).contains("allow_caller_nonce"))
                // A key created to take them uses it as given.
                let permissive = try await fixture.create(input, ["allow_caller_nonce": true])
                #expect(permissive["allow_caller_nonce"] as? Bool == true)
                let (_, withNonce) = try await fixture.post("\(fixture.keys)/\(permissive["id"] as! String)/encrypt", ["data": "x", "nonce": String(repeating: "ab", count: 12)])
                #expect((withNonce["data"] as? String)?.hasPrefix(String(repeating: "ab", count: 12)) == true)
                _ = try await fixture.root.call("DELETE", "\(fixture.keys)/\(permissive["id"] as! String)")
            } else {
                #expect(key["usage"] as? String == "sign/verify" && (key["public_key"] as? String)?.isEmpty == false)
                #expect(key["type"] as? String == (canonical == "BIP39" ? "hdwallet" : "asymmetric"))
                let message = String(repeating: "5a", count: 32)
                let (status, signed) = try await fixture.post("\(path)/sign", ["message": message])
                #expect(status == 200, "\(canonical): \(Self.errors(signed))")
                let signature = try #require(signed["signature"] as? String)
                let (_, verified) = try await fixture.post("\(path)/verify", ["message": message, "signature": signature])
                #expect(verified["verified"] as? Bool == true)
                let (_, other) = try await fixture.post("\(path)/verify", ["message": String(repeating: "5b", count: 32), "signature": signature])
                #expect(other["verified"] as? Bool == false)
                if canonical == "secp256k1" || canonical == "BIP39" {
                    #expect(signature.count == 130)
                    #expect(signed["address"] as? String == key["address"] as? String)
                }
            }
        }
        let (_, list) = try await fixture.root.send("GET", "\(fixture.keys)?type=symmetric")
        #expect((list as? [[String: Any]])?.count == 2)
        let (_, rsa) = try await fixture.root.send("GET", "\(fixture.keys)?spec=rsa-2048")
        #expect((rsa as? [[String: Any]])?.map { $0["spec"] as? String } == ["RSA-2048"])
        let (_, page) = try await fixture.root.send("GET", "\(fixture.keys)?rpp=3&page=3")
        #expect((page as? [[String: Any]])?.count == 1)
        let (badPage, _) = try await fixture.root.send("GET", "\(fixture.keys)?rpp=0")
        #expect(badPage == 422)
    }

    @Test("authenticated ciphertexts: flipping any byte fails with a 4xx; binary plaintext round-trips as base64; RSA-OAEP too")
    func tamperedCiphertexts() async throws {
        let fixture = try await Fixture.start()
        defer { fixture.vaultd.remove() }
        let binary = Data((0..<64).map { UInt8(truncatingIfNeeded: $0 * 37 + 200) }).base64EncodedString()
        for spec in ["AES-256-GCM", "ChaCha20-Poly1305", "RSA-2048"] {
            let extra: [String: Any] = spec.hasPrefix("RSA") ? ["usage": "encrypt/decrypt"] : [:]
            let key = try await fixture.create(spec, extra)
            let path = "\(fixture.keys)/\(key["id"] as! String)"
            let (_, sealed) = try await fixture.post("\(path)/encrypt", ["data": binary, "encoding": "base64"])
            let ciphertextHex = try #require(sealed["data"] as? String)
            let ciphertext = try #require(Hex.decode(ciphertextHex))
            let (_, opened) = try await fixture.post("\(path)/decrypt", ["data": Hex.encode(ciphertext), "encoding": "base64"])
            #expect(opened["data"] as? String == binary, "\(spec)")
            let (asText, textError) = try await fixture.post("\(path)/decrypt", ["data": Hex.encode(ciphertext)])
            #expect(asText == 422 && Self.errors(textError).contains("base64"), "binary plaintext without encoding: \(asText)")
            let positions = spec.hasPrefix("RSA") ? [0, 1, 100, ciphertext.count - 1] : Array(ciphertext.indices)
            for index in positions {
                var flipped = ciphertext
                flipped[index] ^= 0x01
                let (status, json) = try await fixture.post("\(path)/decrypt", ["data": Hex.encode(flipped)])
                #expect((400..<500).contains(status), "\(spec) byte \(index): \(status) \(json)")
            }
            let (truncated, _) = try await fixture.post("\(path)/decrypt", ["data": Hex.encode(ciphertext.prefix(10))])
            #expect((400..<500).contains(truncated))
        }
    }

    @Test("the original's defects, each refused: missing and server-set fields, mnemonic on non-BIP39, wrong usage, bad HD paths, the master key")
    func defects() async throws {
        let fixture = try await Fixture.start()
        defer { fixture.vaultd.remove() }
        let keys = fixture.keys
        // Missing fields: 422 naming the field, never a 500.
        for (body, field) in [(["name": "k"], "spec"), (["spec": "Ed25519"], "name"), (["name": "k", "spec": "DES"], "spec")] as [([String: Any], String)] {
            let (status, json) = try await fixture.post(keys, body)
            #expect(status == 422 && Self.errors(json).contains(field), "\(body): \(status) \(json)")
        }
        for field in ["vault_id", "public_key"] {
            let (status, json) = try await fixture.post(keys, ["name": "k", "spec": "Ed25519", field: "x"])
            #expect(status == 422 && Self.errors(json).contains(field), "\(field): \(status)")
        }
        let mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
        let (withMnemonic, mnemonicError) = try await fixture.post(keys, ["name": "k", "spec": "secp256k1", "mnemonic": mnemonic])
        #expect(withMnemonic == 422 && Self.errors(mnemonicError).contains("mnemonic"))
        let (badMnemonic, _) = try await fixture.post(keys, ["name": "k", "spec": "BIP39", "mnemonic": "abandon abandon abandon"])
        #expect(badMnemonic == 422)
        let (wrongUsage, _) = try await fixture.post(keys, ["name": "k", "spec": "Ed25519", "usage": "encrypt/decrypt"])
        #expect(wrongUsage == 422)

        // A sign-only key asked to encrypt: 422, not 200 {}. A symmetric key asked to sign: 422.
        let ed = try await fixture.create("Ed25519")
        let (encrypt, encryptError) = try await fixture.post("\(keys)/\(ed["id"] as! String)/encrypt", ["data": "x"])
        #expect(encrypt == 422 && Self.errors(encryptError).contains("cannot encrypt"), "\(encrypt) \(encryptError)")
        let aes = try await fixture.create("AES-256-GCM")
        let (sign, _) = try await fixture.post("\(keys)/\(aes["id"] as! String)/sign", ["message": "00"])
        #expect(sign == 422)
        let secp = try await fixture.create("secp256k1")
        let (shortDigest, digestError) = try await fixture.post("\(keys)/\(secp["id"] as! String)/sign", ["message": "abcd"])
        #expect(shortDigest == 422 && Self.errors(digestError).contains("32-byte"))
        let (notHex, _) = try await fixture.post("\(keys)/\(secp["id"] as! String)/sign", ["message": "zz"])
        #expect(notHex == 422)

        // Bad HD paths: 422.
        let wallet = try await fixture.create("BIP39", ["mnemonic": mnemonic])
        #expect(wallet["hd_derivation_path"] as? String == "m/44'/60'/0'/0/0")
        #expect(wallet["address"] as? String == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94")  // the well-known first address of this mnemonic
        let derive = "\(keys)/\(wallet["id"] as! String)/derive"
        for path in ["m/44'/60'/x", "44/60", "m/4294967296", "m//0", "m/44''", ""] {
            let (status, json) = try await fixture.post(derive, ["options": ["hdwallet": ["hd_derivation_path": path]]])
            #expect(status == 422, "path \(path): \(status) \(json)")
        }
        let (negative, _) = try await fixture.post(derive, ["options": ["hdwallet": ["index": -1]]])
        #expect(negative == 422)
        let (tooBig, _) = try await fixture.post(derive, ["options": ["hdwallet": ["account": 2_147_483_648]]])
        #expect(tooBig == 422)
        let (derivedStatus, derived) = try await fixture.post(derive, ["options": ["hdwallet": ["coin": 60, "index": 1]]])
        #expect(derivedStatus == 200 && derived["hd_derivation_path"] as? String == "m/44'/60'/0'/0/1")

        // The master key is not a user key: never listed, not deletable, not addressable.
        let (_, listed) = try await fixture.root.send("GET", keys)
        #expect((listed as? [[String: Any]])?.count == 4)
        let (deleteMaster, _) = try await fixture.root.send("DELETE", "\(keys)/master")
        #expect(deleteMaster == 404)
        let (unknown, _) = try await fixture.root.send("DELETE", "\(keys)/\(UUID().uuidString.lowercased())")
        #expect(unknown == 404)

        // Unseal with a wrong key while unsealed: 400, not 204.
        let wrong = try SealKey.generate().phrase()
        let (wrongUnseal, _) = try await fixture.root.send("POST", "/api/v1/unseal", body: ["key": wrong])
        #expect(wrongUnseal == 400)
        let (rightUnseal, _) = try await fixture.root.send("POST", "/api/v1/unseal", body: ["key": fixture.sealKey])
        #expect(rightUnseal == 204)
    }

    @Test("ephemeral keys return their private material once and store nothing; detached verify")
    func ephemeralAndDetached() async throws {
        let fixture = try await Fixture.start()
        defer { fixture.vaultd.remove() }
        let ephemeral = try await fixture.create("Ed25519", ["ephemeral": true])
        let privateKey = try #require(ephemeral["private_key"] as? String)
        SecretLedger.record([privateKey])
        #expect(privateKey.count == 64)
        let (status, _) = try await fixture.root.send("GET", "\(fixture.keys)/\(ephemeral["id"] as! String)")
        #expect(status == 404)
        #expect(!contains(fixture.vaultd.storedBytes(), privateKey))
        let wallet = try await fixture.create("BIP39", ["ephemeral": true])
        let words = try #require(wallet["mnemonic"] as? String)
        SecretLedger.record([words])
        #expect(words.split(separator: " ").count == 24)

        for spec in ["Ed25519", "P-256", "secp256k1", "RSA-2048"] {
            let key = try await fixture.create(spec)
            let message = String(repeating: "07", count: 32)
            let (_, signed) = try await fixture.post("\(fixture.keys)/\(key["id"] as! String)/sign", ["message": message])
            let body: [String: Any] = ["spec": spec, "message": message, "signature": signed["signature"]!, "public_key": key["public_key"]!]
            let (_, verified) = try await fixture.post("/api/v1/verify", body)
            #expect(verified["verified"] as? Bool == true, "\(spec)")
            var tampered = body
            tampered["message"] = String(repeating: "08", count: 32)
            let (_, refused) = try await fixture.post("/api/v1/verify", tampered)
            #expect(refused["verified"] as? Bool == false, "\(spec)")
        }
        let (badKey, badKeyError) = try await fixture.post("/api/v1/verify", ["spec": "Ed25519", "message": "00", "signature": "00", "public_key": "nothex"])
        #expect(badKey == 422 && Self.errors(badKeyError).contains("public_key"))
    }

    @Test("tokens: capabilities are enforced, other vaults are invisible, only the owner deletes a vault and that removes its keys and secrets")
    func tokensAndOwnership() async throws {
        let fixture = try await Fixture.start()
        defer { fixture.vaultd.remove() }
        func token(_ body: [String: Any]) async throws -> VaultClient {
            let created = try await fixture.root.call("POST", "/api/v1/tokens", body: body) as? [String: Any]
            let token = try #require(created?["token"] as? String)
            SecretLedger.record([token])
            return try fixture.vaultd.client(token: token)
        }
        let (noCapabilities, json) = try await fixture.post("/api/v1/tokens", ["vault_ids": [fixture.vaultID]])
        #expect(noCapabilities == 422 && Self.errors(json).contains("capabilities"))
        let (unknownCapability, _) = try await fixture.post("/api/v1/tokens", ["capabilities": ["read", "fly"]])
        #expect(unknownCapability == 422)

        let signer = try await fixture.create("Ed25519")
        let signPath = "\(fixture.keys)/\(signer["id"] as! String)/sign"
        let reader = try await token(["vault_ids": [fixture.vaultID], "capabilities": ["read"]])
        let (readList, _) = try await reader.send("GET", fixture.keys)
        #expect(readList == 200)
        let (readSign, _) = try await fixture.post(signPath, ["message": "00"], client: reader)
        #expect(readSign == 403)
        let (readCreate, _) = try await fixture.post(fixture.keys, ["name": "k", "spec": "Ed25519"], client: reader)
        #expect(readCreate == 403)
        let (readTokens, _) = try await fixture.post("/api/v1/tokens", ["capabilities": ["read"]], client: reader)
        #expect(readTokens == 403)

        let signerToken = try await token(["vault_ids": [fixture.vaultID], "capabilities": ["sign"]])
        let (signed, _) = try await fixture.post(signPath, ["message": "00"], client: signerToken)
        #expect(signed == 200)

        // An unscoped writer creates and owns its vault; others cannot see it; it cannot delete the root's vault.
        let writer = try await token(["capabilities": ["read", "write", "encrypt"]])
        let own = try #require(try await writer.call("POST", "/api/v1/vaults", body: ["name": "mine"]) as? [String: Any])
        let ownID = try #require(own["id"] as? String)
        let (_, visible) = try await writer.send("GET", "/api/v1/vaults")
        #expect((visible as? [[String: Any]])?.map { $0["id"] as? String } == [ownID])
        let (hidden, _) = try await reader.send("GET", "/api/v1/vaults/\(ownID)")
        #expect(hidden == 404)
        let (notOwner, _) = try await writer.send("DELETE", "/api/v1/vaults/\(fixture.vaultID)")
        #expect(notOwner == 404)
        let (readerDelete, _) = try await reader.send("DELETE", "/api/v1/vaults/\(fixture.vaultID)")
        #expect(readerDelete == 403)
        let (scopedCreate, _) = try await fixture.post("/api/v1/vaults", ["name": "x"], client: reader)
        #expect(scopedCreate == 403)

        let key = try #require(try await writer.call("POST", "/api/v1/vaults/\(ownID)/keys", body: ["name": "k", "spec": "AES-256-GCM"]) as? [String: Any])
        let secretValue = "owner-secret-\(UUID().uuidString)"
        SecretLedger.record([secretValue])
        _ = try await writer.call("POST", "/api/v1/vaults/\(ownID)/secrets", body: ["name": "s", "value": secretValue])
        let (deleted, _) = try await writer.send("DELETE", "/api/v1/vaults/\(ownID)")
        #expect(deleted == 204)
        let (gone, _) = try await fixture.root.send("GET", "/api/v1/vaults/\(ownID)/keys/\(key["id"] as! String)")
        #expect(gone == 404)
        // No record of the deleted vault remains (read by a second connection: free pages may
        // still hold old ciphertext until the database reuses them, as in any database).
        #expect(try await fixture.vaultd.storedRecords(prefix: "vaults/\(ownID)/") == 0)
    }

    @Test("secrets: type and description, listing without values, a 413 past max_secret_size")
    func secrets() async throws {
        let fixture = try await Fixture.start(extra: "max_secret_size = 4096")
        defer { fixture.vaultd.remove() }
        let path = "/api/v1/vaults/\(fixture.vaultID)/secrets"
        let value = "s3cr3t-\(UUID().uuidString)"
        SecretLedger.record([value])
        let created = try #require(try await fixture.root.call("POST", path, body: ["name": "db", "type": "password", "description": "the db", "value": value]) as? [String: Any])
        #expect(created["type"] as? String == "password" && created["description"] as? String == "the db" && created["value"] == nil)
        let (_, list) = try await fixture.root.send("GET", path)
        let listed = try #require((list as? [[String: Any]])?.first)
        #expect(listed["value"] == nil && listed["name"] as? String == "db")
        let (_, read) = try await fixture.root.send("GET", "\(path)/\(created["id"] as! String)")
        #expect((read as? [String: Any])?["value"] as? String == value)
        let (tooLarge, json) = try await fixture.post(path, ["name": "big", "value": String(repeating: "x", count: 4097)])
        #expect(tooLarge == 413 && Self.errors(json).contains("max_secret_size"))
        let (fits, _) = try await fixture.post(path, ["name": "big", "value": String(repeating: "x", count: 4096)])
        #expect(fits == 201)
    }
}
