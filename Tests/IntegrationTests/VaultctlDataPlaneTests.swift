import Foundation
import TestSupport
import Testing

/// `vaultctl vaults|keys|verify|token create` against a real vaultd.
@Suite("vaultctl data plane")
struct VaultctlDataPlaneTests {
    @Test("vaults, keys (encrypt, decrypt, sign, verify, derive), detached verify, a least-privilege token; errors exit non-zero with the reason")
    func verbs() async throws {
        let fixture = try await VaultdKeysTests.Fixture.start()
        defer { fixture.vaultd.remove() }
        let rootToken = try #require(fixture.root.token)
        func vaultctl(_ arguments: [String], token: String? = nil, input: String = "") async throws -> ProcessResult {
            try await VaultdSealTests.run(TestEnvironment.executable("vaultctl"), arguments, address: fixture.vaultd.address, token: token ?? rootToken, input: input)
        }

        let created = try await vaultctl(["vaults", "create", "payments", "--description", "card keys"])
        #expect(created.status == 0, "\(created.stderr)")
        let listed = try await vaultctl(["vaults", "list", "--json"])
        let vaults = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        #expect(vaults?.contains { $0["name"] as? String == "payments" && $0["description"] as? String == "card keys" } == true)

        #expect(try await vaultctl(["keys", "create", "--vault", "payments", "--spec", "ed25519", "--name", "signer"]).status == 0)
        #expect(try await vaultctl(["keys", "create", "--vault", "payments", "--spec", "chacha20", "--name", "box"]).status == 0)
        let sealed = try await vaultctl(["keys", "encrypt", "--vault", "payments", "box"], input: "card 4111")
        #expect(sealed.status == 0)
        let opened = try await vaultctl(["keys", "decrypt", "--vault", "payments", "box", sealed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(opened.stdout == "card 4111\n")

        let signed = try await vaultctl(["keys", "sign", "--vault", "payments", "signer", "cafe"])
        let signature = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signed.status == 0 && signature.count == 128)
        #expect(try await vaultctl(["keys", "verify", "--vault", "payments", "signer", "cafe", signature]).stdout == "verified: true\n")
        let forged = try await vaultctl(["keys", "verify", "--vault", "payments", "signer", "cafd", signature])
        #expect(forged.status == 1 && forged.stdout == "verified: false\n")
        let record = try JSONSerialization.jsonObject(with: Data(try await vaultctl(["keys", "get", "--vault", "payments", "signer"]).stdout.utf8)) as? [String: Any]
        let publicKey = try #require(record?["public_key"] as? String)
        let detached = try await vaultctl(["verify", "--spec", "Ed25519", "--public-key", publicKey, "cafe", signature])
        #expect(detached.status == 0 && detached.stdout == "verified: true\n")

        let mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
        #expect(try await vaultctl(["keys", "create", "--vault", "payments", "--spec", "BIP39", "--name", "w", "--mnemonic-stdin"], input: mnemonic).status == 0)
        let bitcoin = try await vaultctl(["keys", "derive", "--vault", "payments", "w", "--path", "m/44'/0'/0'/0/0"])
        #expect(bitcoin.stdout.contains("address: 1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"), "\(bitcoin.stdout)")
        let badPath = try await vaultctl(["keys", "derive", "--vault", "payments", "w", "--path", "m/x"])
        #expect(badPath.status == 1 && badPath.stderr.contains("422"))

        let scoped = try await vaultctl(["token", "create", "--vault", "payments", "--capabilities", "read,sign"])
        let token = scoped.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(scoped.status == 0 && token.hasPrefix("vd."))
        SecretLedger.record([token])
        #expect(try await vaultctl(["keys", "sign", "--vault", "payments", "signer", "cafe"], token: token).status == 0)
        let refused = try await vaultctl(["keys", "encrypt", "--vault", "payments", "box", "x"], token: token)
        #expect(refused.status == 1 && refused.stderr.contains("'encrypt' capability"))
        let notRoot = try await vaultctl(["token", "create", "--capabilities", "read"], token: token)
        #expect(notRoot.status == 1 && notRoot.stderr.contains("root token"))

        let deleted = try await vaultctl(["vaults", "delete", "payments"])
        #expect(deleted.status == 0)
        #expect(try await vaultctl(["keys", "list", "--vault", "payments"]).status == 1)
    }
}
