import Foundation
import KeyKit
import SealKit
import TestSupport
import Testing
import VaultClient

/// vaultd's signatures, ciphertexts and HD derivations judged by independent implementations
/// (Python `cryptography`, pycryptodome's Keccak for EIP-55, bip-utils), and the keys surviving
/// a restart with nothing private on disk.
@Suite("vaultd keys against the oracles")
struct VaultdKeysOracleTests {
    static let hasOracles = TestEnvironment.shouldRunOracleTests("bip_utils", "cryptography", "Crypto.Hash.keccak")

    static func oracle(_ code: String, _ input: Any) async throws -> Any {
        try await TestEnvironment.runJSONOracle(code, input)
    }

    @Test("signatures verify with Python cryptography; secp256k1 addresses are EIP-55; RSA-OAEP from Python decrypts", .enabled(if: hasOracles))
    func signaturesAndOAEP() async throws {
        let fixture = try await VaultdKeysTests.Fixture.start()
        defer { fixture.vaultd.remove() }
        var cases = [[String: String]]()
        let plan: [(String, [String?])] = [
            ("Ed25519", [nil]), ("P-256", [nil]), ("secp256k1", [nil]),
            ("RSA-2048", ["PS256", "PS384", "PS512", "RS256", "RS384", "RS512", nil]), ("RSA-3072", ["PS384", "RS256"]),
        ]
        for (spec, algorithms) in plan {
            let key = try await fixture.create(spec)
            let path = "\(fixture.keys)/\(key["id"] as! String)/sign"
            for algorithm in algorithms {
                for _ in 0..<3 {
                    let message = try SystemRandom.bytes(spec == "secp256k1" ? 32 : Int.random(in: 0...300))
                    var body: [String: Any] = ["message": Hex.encode(message)]
                    if let algorithm { body["options"] = ["algorithm": algorithm] }
                    let (status, signed) = try await fixture.post(path, body)
                    #expect(status == 200, "\(spec) \(algorithm ?? "")")
                    cases.append([
                        "spec": spec, "algorithm": algorithm ?? "PS256", "message": Hex.encode(message),
                        "signature": signed["signature"] as? String ?? "", "public_key": key["public_key"] as? String ?? "",
                        "address": signed["address"] as? String ?? "",
                    ])
                }
            }
        }
        let verdicts = try await Self.oracle("""
            import json, sys
            from Crypto.Hash import keccak
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, utils
            H = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
            def eip55(pub):
                low = keccak.new(digest_bits=256, data=pub[1:]).hexdigest()[-40:]
                mix = keccak.new(digest_bits=256, data=low.encode()).hexdigest()
                return "0x" + "".join(c.upper() if int(mix[i], 16) >= 8 else c for i, c in enumerate(low))
            out = []
            for c in json.load(sys.stdin):
                msg, sig, spec = bytes.fromhex(c["message"]), bytes.fromhex(c["signature"]), c["spec"]
                try:
                    if spec == "Ed25519":
                        ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(c["public_key"])).verify(sig, msg)
                    elif spec == "P-256":
                        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(c["public_key"])).verify(sig, msg, ec.ECDSA(hashes.SHA256()))
                    elif spec == "secp256k1":
                        pub = bytes.fromhex(c["public_key"][2:])
                        der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))
                        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), pub).verify(der, msg, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
                        assert len(sig) == 65 and sig[64] in (0, 1)
                        assert c["address"] == eip55(pub), "EIP-55"
                    else:
                        key = serialization.load_pem_public_key(c["public_key"].encode())
                        h = H[c["algorithm"][2:]]
                        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if c["algorithm"].startswith("PS") else padding.PKCS1v15()
                        key.verify(sig, msg, pad, h)
                    out.append("ok")
                except Exception as e:
                    out.append(f"{spec} {c['algorithm']}: {type(e).__name__} {e}")
            print(json.dumps(out))
            """, cases) as? [String]
        #expect(verdicts == Array(repeating: "ok", count: cases.count), "\(verdicts ?? [])")

        // RSA-OAEP-SHA256 made by Python decrypts in vaultd.
        let rsa = try await fixture.create("RSA-2048", ["usage": "encrypt/decrypt"])
        let plaintexts = (0..<4).map { _ in Hex.encode((0..<Int.random(in: 1...190)).map { _ in UInt8.random(in: 0...255) }) }
        let ciphertexts = try await Self.oracle("""
            import json, sys
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
            q = json.load(sys.stdin)
            key = serialization.load_pem_public_key(q["key"].encode())
            oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
            print(json.dumps([key.encrypt(bytes.fromhex(p), oaep).hex() for p in q["plaintexts"]]))
            """, ["key": rsa["public_key"] as! String, "plaintexts": plaintexts]) as? [String]
        for (plaintext, ciphertext) in zip(plaintexts, ciphertexts ?? []) {
            let (_, opened) = try await fixture.post("\(fixture.keys)/\(rsa["id"] as! String)/decrypt", ["data": ciphertext, "encoding": "base64"])
            #expect((opened["data"] as? String).flatMap { Data(base64Encoded: $0) }.map { Hex.encode($0) } == plaintext)
        }
    }

    @Test("BIP39 keys: addresses and public keys at random BIP44 and free paths match bip-utils; their signatures verify", .enabled(if: hasOracles))
    func hdWallets() async throws {
        let fixture = try await VaultdKeysTests.Fixture.start()
        defer { fixture.vaultd.remove() }
        var cases = [[String: Any]]()
        for index in 0..<8 {
            let mnemonic = try KeyMaterial.mnemonic(try SystemRandom.bytes([16, 20, 24, 28, 32][index % 5]))
            SecretLedger.record([mnemonic])
            let key = try await fixture.create("BIP39", ["mnemonic": mnemonic])
            let coin = index % 2 == 0 ? 60 : 0
            let parts: [String: Any] = ["coin": coin, "account": Int.random(in: 0..<5), "change": Int.random(in: 0...1), "index": Int.random(in: 0..<1000)]
            let free = (["m"] + (0..<Int.random(in: 1...5)).map { _ in Bool.random() ? "\(UInt32.random(in: 0..<0x8000_0000))'" : "\(UInt32.random(in: 0..<0x8000_0000))" })
                .joined(separator: "/")
            let derive = "\(fixture.keys)/\(key["id"] as! String)/derive"
            let (_, bip44) = try await fixture.post(derive, ["options": ["hdwallet": parts]])
            let (_, other) = try await fixture.post(derive, ["options": ["hdwallet": ["hd_derivation_path": free]]])
            let digest = try SystemRandom.bytes(32)
            let (_, signed) = try await fixture.post("\(fixture.keys)/\(key["id"] as! String)/sign", [
                "message": Hex.encode(digest), "options": ["hdwallet": ["hd_derivation_path": free]],
            ])
            cases.append(parts.merging([
                "mnemonic": mnemonic, "path": free, "digest": Hex.encode(digest), "signature": signed["signature"] as? String ?? "",
                "ours": [bip44["public_key"] as? String ?? "", bip44["address"] as? String ?? "", other["public_key"] as? String ?? ""],
                "default_address": key["address"] as? String ?? "",
            ]) { $1 })
        }
        let verdicts = try await Self.oracle("""
            import json, sys
            from bip_utils import Bip39SeedGenerator, Bip32Slip10Secp256k1, Bip44, Bip44Coins, Bip44Changes
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import ec, utils
            out = []
            for c in json.load(sys.stdin):
                seed = Bip39SeedGenerator(c["mnemonic"]).Generate()
                coin = Bip44Coins.ETHEREUM if c["coin"] == 60 else Bip44Coins.BITCOIN
                change = Bip44Changes.CHAIN_EXT if c["change"] == 0 else Bip44Changes.CHAIN_INT
                leaf = Bip44.FromSeed(seed, coin).Purpose().Coin().Account(c["account"]).Change(change).AddressIndex(c["index"])
                free = Bip32Slip10Secp256k1.FromSeed(seed).DerivePath(c["path"]).PublicKey().RawUncompressed().ToBytes()
                eth0 = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT).AddressIndex(0)
                theirs = ["0x" + leaf.PublicKey().RawUncompressed().ToHex(), leaf.PublicKey().ToAddress(), "0x" + free.hex()]
                sig = bytes.fromhex(c["signature"])
                try:
                    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))
                    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), free).verify(der, bytes.fromhex(c["digest"]), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
                    signed = True
                except Exception:
                    signed = False
                ok = theirs == c["ours"] and signed and eth0.PublicKey().ToAddress() == c["default_address"]
                out.append("ok" if ok else f"{c['path']} coin {c['coin']}: theirs {theirs} ours {c['ours']} signature {signed}")
            print(json.dumps(out))
            """, cases) as? [String]
        #expect(verdicts == Array(repeating: "ok", count: cases.count), "\(verdicts ?? [])")
    }

    @Test("after restart and unseal every key still signs, verifies and decrypts; the database holds no private key or plaintext")
    func restart() async throws {
        let fixture = try await VaultdKeysTests.Fixture.start()
        defer { fixture.vaultd.remove() }
        let entropy = try SystemRandom.bytes(32)
        let mnemonic = try KeyMaterial.mnemonic(entropy)
        let derivedKey = try HDWallet.derived(entropy: entropy, path: .ethereumDefault).privateKey
        SecretLedger.record([mnemonic, Hex.encode(derivedKey)])
        var signatures = [(path: String, message: String, signature: String)]()
        var ciphertexts = [(path: String, plaintext: String, ciphertext: String)]()
        for spec in VaultdKeysTests.allSpecs {
            let key = try await fixture.create(spec, spec == "BIP39" ? ["mnemonic": mnemonic] : [:])
            let path = "\(fixture.keys)/\(key["id"] as! String)"
            if key["usage"] as? String == "encrypt/decrypt" {
                let plaintext = "plaintext-\(spec)-\(UUID().uuidString)"
                SecretLedger.record([plaintext])
                let (_, sealed) = try await fixture.post("\(path)/encrypt", ["data": plaintext])
                ciphertexts.append((path, plaintext, sealed["data"] as? String ?? ""))
            } else {
                let message = Hex.encode(try SystemRandom.bytes(32))
                let (_, signed) = try await fixture.post("\(path)/sign", ["message": message])
                signatures.append((path, message, signed["signature"] as? String ?? ""))
            }
        }
        #expect(try await fixture.vaultd.stop() == 0)
        try await fixture.vaultd.start()
        _ = try await fixture.vaultd.client().unseal(key: fixture.sealKey)
        for (path, message, signature) in signatures {
            let (_, verified) = try await fixture.post("\(path)/verify", ["message": message, "signature": signature])
            #expect(verified["verified"] as? Bool == true, "\(path)")
            let (status, _) = try await fixture.post("\(path)/sign", ["message": message])
            #expect(status == 200)
        }
        for (path, plaintext, ciphertext) in ciphertexts {
            let (_, opened) = try await fixture.post("\(path)/decrypt", ["data": ciphertext])
            #expect(opened["data"] as? String == plaintext, "\(path)")
        }
        let stored = fixture.vaultd.storedBytes()
        let leaks = ([mnemonic, Hex.encode(derivedKey), Hex.encode(entropy)] + ciphertexts.map(\.plaintext)).filter { contains(stored, $0) }
        #expect(leaks.isEmpty, "\(leaks.count) secrets found in the database files")
        #expect(!stored.contains(entropy) && !stored.contains(derivedKey), "raw key bytes found in the database files")
    }
}
