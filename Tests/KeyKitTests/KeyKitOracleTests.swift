import Foundation
import KeyKit
import SealKit
import TestSupport
import Testing

/// KeyKit against independent implementations: pycryptodome's Keccak, EIP-55's own vectors,
/// bip-utils for BIP39/BIP32/BIP44 (the official BIP32 vectors and random mnemonics at random
/// paths), and Python `cryptography` for secp256k1 signatures.
@Suite("KeyKit against the oracles")
struct KeyKitOracleTests {
    static let hasOracles = TestEnvironment.shouldRunOracleTests("bip_utils", "cryptography", "Crypto.Hash.keccak")

    static func oracle(_ code: String, _ input: Any) async throws -> Any {
        try await TestEnvironment.runJSONOracle(code, input)
    }

    @Test("Keccak-256: known vectors")
    func keccakVectors() {
        #expect(Hex.encode(Keccak256.hash([])) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(Hex.encode(Keccak256.hash(Array("abc".utf8))) == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    }

    @Test("Keccak-256 agrees with pycryptodome on 300 messages of 0–400 bytes (block edges included)", .enabled(if: hasOracles))
    func keccakOracle() async throws {
        var messages = (0..<300).map { index in (0..<(index < 20 ? 130 + index : Int.random(in: 0...400))).map { _ in UInt8.random(in: 0...255) } }
        messages[0] = []
        let expected = try await Self.oracle("""
            import json, sys
            from Crypto.Hash import keccak
            print(json.dumps([keccak.new(digest_bits=256, data=bytes.fromhex(m)).hexdigest() for m in json.load(sys.stdin)]))
            """, messages.map { Hex.encode($0) }) as? [String]
        #expect(expected == messages.map { Hex.encode(Keccak256.hash($0)) })
    }

    @Test("EIP-55: the specification's examples")
    func eip55() {
        for address in ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"] {
            #expect(Ethereum.checksummed(String(address.dropFirst(2)).lowercased()) == address)
        }
    }

    @Test("BIP32 test vectors 1 and 2: every private key and public key along the chain", .enabled(if: hasOracles))
    func bip32Vectors() async throws {
        let cases: [(seed: String, path: String)] = [
            ("000102030405060708090a0b0c0d0e0f", "m/0'/1/2'/2/1000000000"),
            ("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542",
             "m/0/2147483647'/1/2147483646'/2"),
        ]
        for (seed, path) in cases {
            let parts = path.split(separator: "/").map(String.init)
            let prefixes = (1...parts.count).map { parts.prefix($0).joined(separator: "/") }
            let expected = try await Self.oracle("""
                import json, sys
                from bip_utils import Bip32Slip10Secp256k1
                q = json.load(sys.stdin)
                root = Bip32Slip10Secp256k1.FromSeed(bytes.fromhex(q["seed"]))
                out = []
                for p in q["paths"]:
                    k = root if p == "m" else root.DerivePath(p)
                    out.append([k.PrivateKey().Raw().ToHex(), k.PublicKey().RawCompressed().ToHex(), k.ChainCode().ToHex()])
                print(json.dumps(out))
                """, ["seed": seed, "paths": prefixes]) as? [[String]]
            let master = try HDWallet.ExtendedKey(seed: try #require(Hex.decode(seed)))
            let ours = try prefixes.map { prefix in
                let key = try master.derive(try HDWallet.Path(parsing: prefix))
                return [Hex.encode(key.privateKey), Hex.encode(try Secp256k1.publicKey(key.privateKey, compressed: true)), Hex.encode(key.chainCode)]
            }
            #expect(ours == expected, "seed \(seed.prefix(8))…")
        }
    }

    @Test("random mnemonics at random paths: seed, keys and ETH/BTC addresses match bip-utils", .enabled(if: hasOracles))
    func randomMnemonics() async throws {
        var cases = [[String: Any]]()
        for index in 0..<12 {
            let entropy = try SystemRandom.bytes([16, 20, 24, 28, 32][index % 5])
            let mnemonic = try KeyMaterial.mnemonic(entropy)
            let coin: UInt32 = index % 2 == 0 ? 60 : 0
            let account = UInt32.random(in: 0..<5), change = UInt32.random(in: 0...1), address = UInt32.random(in: 0..<1_000)
            let random = (0..<Int.random(in: 1...6)).map { _ in Bool.random() ? "\(UInt32.random(in: 0..<0x8000_0000))'" : "\(UInt32.random(in: 0..<0x8000_0000))" }
            cases.append(["mnemonic": mnemonic, "coin": coin, "account": account, "change": change, "index": address,
                          "path": (["m"] + random).joined(separator: "/")])
        }
        let expected = try await Self.oracle("""
            import json, sys
            from bip_utils import Bip39SeedGenerator, Bip32Slip10Secp256k1, Bip44, Bip44Coins, Bip44Changes
            out = []
            for c in json.load(sys.stdin):
                seed = Bip39SeedGenerator(c["mnemonic"]).Generate()
                coin = Bip44Coins.ETHEREUM if c["coin"] == 60 else Bip44Coins.BITCOIN
                change = Bip44Changes.CHAIN_EXT if c["change"] == 0 else Bip44Changes.CHAIN_INT
                leaf = Bip44.FromSeed(seed, coin).Purpose().Coin().Account(c["account"]).Change(change).AddressIndex(c["index"])
                other = Bip32Slip10Secp256k1.FromSeed(seed).DerivePath(c["path"])
                out.append([seed.hex(), leaf.PublicKey().RawUncompressed().ToHex(), leaf.PublicKey().ToAddress(),
                            other.PublicKey().RawUncompressed().ToHex()])
            print(json.dumps(out))
            """, cases) as? [[String]]
        let ours = try cases.map { c in
            let mnemonic = c["mnemonic"] as! String
            let seed = try HDWallet.seed(mnemonic: mnemonic)
            let entropy = try KeyMaterial.entropy(mnemonic: mnemonic)
            let bip44 = try HDWallet.Path(coin: c["coin"] as! UInt32, account: c["account"] as! UInt32, change: c["change"] as! UInt32, index: c["index"] as! UInt32)
            let leaf = try HDWallet.derived(entropy: entropy, path: bip44)
            let other = try HDWallet.derived(entropy: entropy, path: try HDWallet.Path(parsing: c["path"] as! String))
            return [Hex.encode(seed), Hex.encode(leaf.publicKey), leaf.address, Hex.encode(other.publicKey)]
        }
        #expect(ours.count == expected?.count)
        for (index, (mine, theirs)) in zip(ours, expected ?? []).enumerated() {
            let label = "case \(index): \(cases[index]["path"] ?? ""), coin \(cases[index]["coin"] ?? "")"
            #expect(mine == theirs, Comment(rawValue: label))
        }
    }

    @Test("secp256k1: signatures verify with Python cryptography (r‖s → DER), are low-s, and recover the key", .enabled(if: hasOracles))
    func secp256k1Signatures() async throws {
        var cases = [[String: String]]()
        for _ in 0..<20 {
            let key = try KeyMaterial.generate(.secp256k1)
            let digest = try SystemRandom.bytes(32)
            let signature = try Secp256k1.sign(digest: digest, privateKey: key)
            let publicKey = try Secp256k1.publicKey(key, compressed: false)
            #expect(try Secp256k1.recover(digest: digest, signature: signature) == publicKey)
            #expect(Secp256k1.verify(digest: digest, r: signature.r, s: signature.s, publicKey: publicKey))
            var flipped = digest
            flipped[0] ^= 1
            #expect(!Secp256k1.verify(digest: flipped, r: signature.r, s: signature.s, publicKey: publicKey))
            #expect(signature.s.lexicographicallyPrecedes(Hex.decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1")!)
                    || signature.s == Hex.decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")!)
            cases.append(["digest": Hex.encode(digest), "r": Hex.encode(signature.r), "s": Hex.encode(signature.s), "key": Hex.encode(publicKey)])
        }
        let verdicts = try await Self.oracle("""
            import json, sys
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import ec, utils
            out = []
            for c in json.load(sys.stdin):
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), bytes.fromhex(c["key"]))
                der = utils.encode_dss_signature(int(c["r"], 16), int(c["s"], 16))
                try:
                    key.verify(der, bytes.fromhex(c["digest"]), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
                    out.append(True)
                except Exception:
                    out.append(False)
            print(json.dumps(out))
            """, cases) as? [Bool]
        #expect(verdicts == Array(repeating: true, count: cases.count))
    }

    @Test("bad derivation paths and bad key material are refused with a reason")
    func badInput() throws {
        for path in ["", "44'/60'", "m/", "m//0", "m/abc", "m/2147483648", "m/-1", "m/1''", "m/٣"] {
            #expect(throws: KeyKitError.self, "\(path)") { try HDWallet.Path(parsing: path) }
        }
        #expect(try HDWallet.Path(parsing: "m/44h/60H/0'/0/0") == .ethereumDefault)
        #expect(HDWallet.Path.ethereumDefault.description == "m/44'/60'/0'/0/0")
        #expect(!Secp256k1.isValidPrivateKey([UInt8](repeating: 0, count: 32)))
        #expect(!Secp256k1.isValidPrivateKey([UInt8](repeating: 0xFF, count: 32)))
        #expect(throws: KeyKitError.self) { try KeyMaterial.entropy(mnemonic: "abandon abandon abandon") }
        #expect(throws: KeyKitError.self) { try KeySpec(parsing: "DES") }
        #expect(try KeySpec(parsing: "chacha20") == .chaCha20Poly1305)
        #expect(try KeySpec(parsing: "aes-256-gcm") == .aes256GCM)
        #expect(throws: KeyKitError.self) { try Secp256k1.sign(digest: [1, 2, 3], privateKey: try KeyMaterial.generate(.secp256k1)) }
    }
}
