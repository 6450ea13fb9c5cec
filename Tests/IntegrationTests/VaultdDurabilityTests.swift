import Foundation
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// vaultd across restarts and crashes: what was acknowledged is kept, what is secret never
/// reaches the disk in the clear.
@Suite("vaultd durability and secrecy")
struct VaultdDurabilityTests {
    /// Initialises with a generated key (one share), unseals, returns the key and root token.
    static func initialize(_ vaultd: VaultdHarness) async throws -> (key: String, token: String, result: InitResponse) {
        let result = try await vaultd.client().initializeRecorded(InitRequest(secretShares: 1, secretThreshold: 1, recoveryShares: 3, recoveryThreshold: 2))
        let key = try #require(result.keysBase64.first)
        let token = result.rootToken
        _ = try await vaultd.client().unseal(key: key)
        return (key, token, result)
    }

    @Test("after SIGTERM and restart the vault is sealed; unsealed, every secret reads back byte for byte; the disk holds no secret")
    func restartAndGrep() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let (key, token, result) = try await Self.initialize(vaultd)
        let client = try vaultd.client(token: token)

        let vault = try #require(try await client.call("POST", "/api/v1/vaults", body: ["name": "app", "description": "test"]) as? [String: Any])
        let vaultID = try #require(vault["id"] as? String)
        var values = [String: String]()  // secret id → value
        let samples = ["plain-secret-value-A1", "ünïcødé 秘密 🔑 value", String(repeating: "long-secret-B2 ", count: 2000), "line1\nline2\ttab\"quote\\"]
        for (index, value) in samples.enumerated() {
            let created = try #require(try await client.call("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "s\(index)", "value": value]) as? [String: Any])
            values[try #require(created["id"] as? String)] = value
        }

        let exit = try await vaultd.stop(signal: SIGTERM)
        #expect(exit == 0, "vaultd exit status after SIGTERM")
        #expect(vaultd.log().contains("keys wiped"))
        try await vaultd.start()
        let status = try await vaultd.client().sealStatus()
        #expect(status.sealed == true)
        #expect(status.initialized == true)
        let sealedRead = try await client.send("GET", "/api/v1/vaults/\(vaultID)/secrets")
        #expect(sealedRead.status == 503)
        #expect(((sealedRead.json as? [String: Any])?["errors"] as? [String]) == ["vault is sealed"])

        _ = try await vaultd.client().unseal(key: key)
        for (id, value) in values {
            let record = try #require(try await client.call("GET", "/api/v1/vaults/\(vaultID)/secrets/\(id)") as? [String: Any])
            #expect(record["value"] as? String == value)
        }

        // Nothing readable on disk: values, the seal key in every form, shares, the token.
        let sealKey = try SealKey(parsing: key)
        var needles = samples.map { String($0.prefix(20)) }
        needles += [key, sealKey.encoded(as: .hex), sealKey.phrase(), token, String(token.dropFirst(3))]
        needles += result.recoveryKeysBase64 ?? []
        needles += result.recoveryKeys ?? []
        let stored = vaultd.storedBytes()
        #expect(stored.count > 4096)
        for needle in needles {
            #expect(!contains(stored, needle), "the database holds \(needle.prefix(12))…")
        }
        // The raw key bytes are not there either.
        #expect(!stored.contains(sealKey.withUnsafeBytes { Array($0) }))
        for needle in needles { #expect(!vaultd.log().contains(needle), "the log holds \(needle.prefix(12))…") }
    }

    @Test("kill -9 during a stream of writes: every acknowledged write survives and the database opens cleanly")
    func crashDuringWrites() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let (key, token, _) = try await Self.initialize(vaultd)
        let client = try vaultd.client(token: token)
        let vault = try #require(try await client.call("POST", "/api/v1/vaults", body: ["name": "stream", "description": ""]) as? [String: Any])
        let vaultID = try #require(vault["id"] as? String)

        for round in 0..<3 {
            // Four writers; vaultd is killed after a random delay while they write.
            let acknowledged = AcknowledgedWrites()
            let killDelay = Int.random(in: 150...600)
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for n in 0..<2000 {
                            let value = "round\(round)-writer\(writer)-n\(n)-\(UUID().uuidString)"
                            guard let created = try? await client.call("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "w\(writer)", "value": value]) as? [String: Any],
                                  let id = created["id"] as? String else { return }
                            await acknowledged.add(id, value)
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(killDelay))
                    _ = try? await vaultd.stop(signal: SIGKILL)
                }
            }
            let writes = await acknowledged.all
            #expect(writes.count > 0, "round \(round): no write was acknowledged before the kill")
            print("crash round \(round): vaultd killed after \(killDelay) ms; \(writes.count) acknowledged writes to check")

            try await vaultd.start()
            _ = try await vaultd.client().unseal(key: key)
            for (id, value) in writes {
                let record = try await client.call("GET", "/api/v1/vaults/\(vaultID)/secrets/\(id)") as? [String: Any]
                #expect(record?["value"] as? String == value, "acknowledged write \(id) lost")
            }
        }
        try await vaultd.stop()
        if !VaultdHarness.isPostgreSQL {
            let check = try await TestEnvironment.run("/usr/bin/env", ["python3", "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])", vaultd.databasePath])
            #expect(check.stdout == "ok\n", "\(check.stderr)")
        }
    }
}

actor AcknowledgedWrites {
    private(set) var all: [(String, String)] = []
    func add(_ id: String, _ value: String) { all.append((id, value)) }
}
