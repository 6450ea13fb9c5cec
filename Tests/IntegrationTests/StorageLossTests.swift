import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// vaultd's storage vanishing under it: no write is acknowledged into a deleted file, health
/// says why, and the agent never answers a vault that lost its storage with a fresh init.
@Suite("storage lost")
struct StorageLossTests {
    struct Setup {
        let vaultd: VaultdHarness
        let agent: ChildProcess
        let root: VaultClient
        let telemetry: String
    }

    static func start() async throws -> Setup {
        let vaultd = try VaultdHarness()
        try await vaultd.start()
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let tokenFile = vaultd.directory.appendingPathComponent("root-token").path
        let port = freePort()
        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile,
                                                     extra: "init { enabled = true  root_token = \"file:\(tokenFile)\" }\ntelemetry { address = \"127.0.0.1:\(port)\" }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        let client = try vaultd.client()
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log)")
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        SecretLedger.record([token, try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)])
        return Setup(vaultd: vaultd, agent: agent, root: try vaultd.client(token: token), telemetry: "http://127.0.0.1:\(port)/metrics")
    }

    static func storageLostAlert(_ setup: Setup) async -> Bool {
        guard let response = try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: setup.telemetry)) else { return false }
        return String(decoding: response.body, as: UTF8.self).contains("class=\"storage_lost\"} 1")
    }

    @Test("database deleted while running: no write acknowledged, health 503 naming the file; after a restart the agent raises storage_lost and does not initialise")
    func deletedDatabase() async throws {
        let setup = try await Self.start()
        defer { setup.vaultd.remove(); kill(setup.agent.pid, SIGKILL) }
        for index in 0..<3 { _ = try await setup.root.call("POST", "/api/v1/vaults", body: ["name": "before-\(index)"]) }
        for suffix in ["", "-wal", "-shm"] { unlink(setup.vaultd.databasePath + suffix) }
        var acknowledged = 0
        for index in 0..<10 {
            let (status, _) = try await setup.root.send("POST", "/api/v1/vaults", body: ["name": "after-\(index)"])
            if (200..<300).contains(status) { acknowledged += 1 }
        }
        #expect(acknowledged == 0)
        let (health, body) = try await setup.vaultd.client().send("GET", "/v1/sys/health")
        #expect(health == 503)
        let reason = ((body as? [String: Any])?["errors"] as? [String])?.first ?? ""
        #expect(reason.contains("was deleted"), "\(reason)")
        #expect(await eventually { setup.vaultd.log().contains("storage cannot be trusted") })
        print("database deleted under vaultd: \(acknowledged) of 10 writes acknowledged, health \(health)")

        try await setup.vaultd.stop(signal: SIGKILL)
        try await setup.vaultd.start()
        #expect(await eventually { await Self.storageLostAlert(setup) }, "\(setup.agent.log.suffix(1500))")
        #expect(setup.agent.log.contains("storage was lost"))
        #expect((try await setup.vaultd.client().sealStatus()).initialized == false, "the agent initialised a vault that lost its storage")
    }

    @Test("WAL truncated to its header after a kill: the agent raises storage_lost and does not initialise")
    func truncatedWAL() async throws {
        let setup = try await Self.start()
        defer { setup.vaultd.remove(); kill(setup.agent.pid, SIGKILL) }
        for index in 0..<3 { _ = try await setup.root.call("POST", "/api/v1/vaults", body: ["name": "v-\(index)"]) }
        try await setup.vaultd.stop(signal: SIGKILL)
        truncate(setup.vaultd.databasePath + "-wal", 32)
        try await setup.vaultd.start()
        let status = try await setup.vaultd.client().sealStatus()
        if status.initialized == false {
            #expect(await eventually { await Self.storageLostAlert(setup) }, "\(setup.agent.log.suffix(1500))")
            #expect((try await setup.vaultd.client().sealStatus()).initialized == false)
            print("truncated WAL: vaultd reports uninitialised; the agent raised storage_lost and did not initialise")
        } else {
            print("truncated WAL: the init had reached the main file; vaultd still initialised")
        }
    }
}

@Suite("storage damaged")
struct StorageDamageTests {
    /// A started, initialised and unsealed vaultd; its seal key's phrase and a root client.
    static func unsealedVaultd() async throws -> (VaultdHarness, String, VaultClient) {
        let vaultd = try VaultdHarness()
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase()
        let answer = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        _ = try await vaultd.client().unseal(key: phrase)
        return (vaultd, phrase, try vaultd.client(token: answer.rootToken))
    }

    @Test("a database with corrupted pages is refused at start, naming the file — never served as empty (its records would answer 404)")
    func corruptedPages() async throws {
        let (vaultd, _, root) = try await Self.unsealedVaultd()
        defer { vaultd.remove() }
        for index in 0..<40 { _ = try await root.call("POST", "/api/v1/vaults", body: ["name": "vault-\(index)", "description": String(repeating: "d", count: 200)]) }
        try await vaultd.stop()   // SIGTERM: checkpointed into the main file
        let log = (try? FileManager.default.attributesOfItem(atPath: vaultd.databasePath + "-wal")[.size] as? Int) ?? 0
        try #require(log == 0, "the write-ahead log holds \(log) bytes after SIGTERM: newer copies of the damaged page would hide it")
        // Garbage over the second page (the table's b-tree: SQLite's pages are 4 KiB here).
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: vaultd.databasePath))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) }))
        try handle.close()
        let error = await #expect(throws: TestSupportError.self) { try await vaultd.start() }
        #expect(error?.description.contains("integrity check") == true, "\(error?.description ?? "")")
        print("corrupted database: vaultd refused to start — \(vaultd.log(tail: 1).suffix(200))")
    }

    @Test("SIGTERM leaves every acknowledged write in vault.db itself, even while another process holds the file open (a copy of the stopped server's file is complete)")
    func stopEmptiesTheLog() async throws {
        let (vaultd, _, root) = try await Self.unsealedVaultd()
        defer { vaultd.remove() }
        for index in 0..<20 { _ = try await root.call("POST", "/api/v1/vaults", body: ["name": "kept-\(index)"]) }
        // A reader with the file open: vaultd is then not SQLite's last connection, and closing
        // its pool alone would leave the writes in the log.
        let python = try #require(TestEnvironment.oraclePython)
        let reader = try ChildProcess(python, ["-c", """
            import sqlite3, sys, time
            connection = sqlite3.connect(sys.argv[1])
            connection.execute("SELECT count(*) FROM kv").fetchone()
            print("open", flush=True)
            time.sleep(60)
            """, vaultd.databasePath], logPath: vaultd.directory.appendingPathComponent("reader.log").path)
        defer { kill(reader.pid, SIGKILL) }
        #expect(await eventually { reader.log.contains("open") }, "\(reader.log)")
        try await vaultd.stop()
        let log = (try? FileManager.default.attributesOfItem(atPath: vaultd.databasePath + "-wal")[.size] as? Int) ?? 0
        #expect(log == 0, "the write-ahead log still holds \(log) bytes after SIGTERM")
        // The main file alone (a copy without its log) holds the vaults.
        let copy = vaultd.directory.appendingPathComponent("copy.db").path
        try FileManager.default.copyItem(atPath: vaultd.databasePath, toPath: copy)
        let count = try await TestEnvironment.run(python, ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM kv WHERE key LIKE 'vaults/%'\").fetchone()[0])", copy])
        #expect(Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 20, "\(count.stdout) \(count.stderr)")
    }

    @Test("pages corrupted under a running vaultd: a secret whose page cannot be read answers 503 naming the file, never 404, never another value; then writes are refused and health says why")
    func corruptedWhileRunning() async throws {
        let (vaultd, phrase, root) = try await Self.unsealedVaultd()
        defer { vaultd.remove() }
        let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": "damaged"])
        let vaultID = try #require((vault as? [String: Any])?["id"] as? String)
        var secrets = [(id: String, value: String)]()
        for index in 0..<60 {
            let value = "value-\(index)-" + String(repeating: "v", count: 300)
            let created = try await root.call("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "s\(index)", "value": value])
            secrets.append((try #require((created as? [String: Any])?["id"] as? String), value))
        }
        try await vaultd.stop()   // checkpointed into the main file
        try await vaultd.start()
        _ = try await vaultd.client().unseal(key: phrase)
        // Garbage over every page but the first two (the schema and the table's root), in place:
        // the same file, so only the reads can notice.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: vaultd.databasePath)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: vaultd.databasePath))
        for page in stride(from: 8192, to: size, by: 4096) {
            try handle.seek(toOffset: UInt64(page))
            try handle.write(contentsOf: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13 &+ page) }))
        }
        try handle.close()
        // Read at once, as clients do: the pool opens new connections, which read from the file.
        let answers = try await withThrowingTaskGroup(of: (Int, String?, String).self) { group in
            for secret in secrets {
                group.addTask {
                    let (status, body) = try await root.send("GET", "/api/v1/vaults/\(vaultID)/secrets/\(secret.id)")
                    return (status, (body as? [String: Any])?["value"] as? String, secret.value)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var statuses = [Int: Int]()
        for (status, value, expected) in answers {
            statuses[status, default: 0] += 1
            if status == 200 { #expect(value == expected) }
        }
        print("60 secrets read after their pages were overwritten under a running vaultd: \(statuses.sorted { $0.key < $1.key })")
        #expect(statuses[404] == nil, "a record storage could not read answered 404")
        #expect(Set(statuses.keys).isSubset(of: [200, 503]), "\(statuses)")
        // Once SQLite has said "damaged", writes are refused and health says why.
        if statuses[503] != nil {
            let (write, _) = try await root.send("POST", "/api/v1/vaults", body: ["name": "after-damage"])
            #expect(write == 503)
            let (health, body) = try await vaultd.client().send("GET", "/v1/sys/health")
            #expect(health == 503)
            let reason = ((body as? [String: Any])?["errors"] as? [String])?.first ?? ""
            #expect(reason.contains("is damaged") && reason.contains(vaultd.databasePath), "\(reason)")
            #expect(await eventually { vaultd.log().contains("storage cannot be trusted") })
        }
    }
}
