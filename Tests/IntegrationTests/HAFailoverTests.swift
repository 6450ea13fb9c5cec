import Foundation
import HTTPTransport
import Synchronization
import TestSupport
import Testing

/// vaultd nodes on one PostgreSQL with `ha_enabled`: failover under continuous writes, with real
/// processes (vaultd, unseal-agent, PostgreSQL) on loopback.
@Suite("vaultd high availability on PostgreSQL")
struct HAFailoverTests {
    /// One acknowledged write: which node the client sent it to, the term that served it.
    struct Ack: Sendable {
        let sequence: Int
        let secretID: String
        let value: String
        let node: Int
        let term: Int64?
        let at: ContinuousClock.Instant
    }

    /// Writes one secret after another, each through the next node that is up, until stopped
    /// (bounded: at most `limit` writes). Failed writes (a node killed, a failover under way)
    /// are counted and retried with a new value; only acknowledged ones are recorded.
    final class Writer: Sendable {
        let acks = Mutex<[Ack]>([])
        let failures = Mutex(0)
        let down = Mutex<Set<Int>>([])
        let stopped = Atomic(false)

        func run(_ cluster: HACluster, vault: String, token: String, limit: Int = 200_000) async {
            var sequence = 0
            var next = 0
            while !stopped.load(ordering: .relaxed) && sequence < limit {
                sequence += 1
                let skip = down.withLock { $0 }
                var index = next % cluster.nodes.count
                next += 1
                if skip.contains(index) { index = (0..<cluster.nodes.count).first { !skip.contains($0) } ?? index }
                let value = "ha-write-\(sequence)"
                do {
                    let response = try await HACluster.request(cluster.nodes[index], "POST", "/api/v1/vaults/\(vault)/secrets", token: token,
                                                               body: ["name": "w\(sequence)", "value": value], timeout: .seconds(1))
                    if response.status == 201,
                       let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], let id = json["id"] as? String {
                        let term = response.headers["x-vaultd-term"].flatMap { Int64($0) }
                        acks.withLock { $0.append(Ack(sequence: sequence, secretID: id, value: value, node: index, term: term, at: .now)) }
                        continue
                    }
                } catch {}
                failures.withLock { $0 += 1 }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }

        var lastTerm: Int64? { acks.withLock { $0.last?.term } }
        func firstAck(after instant: ContinuousClock.Instant, termAbove term: Int64) -> Ack? {
            acks.withLock { $0.first { $0.at > instant && ($0.term ?? 0) > term } }
        }
    }

    @Test("3 nodes + 3 agents, 10 failovers (kill -9, SIGTERM, SIGSTOP past the lease) under writes through every node: every acknowledged write reads back, terms never go back, writable again after each")
    func failovers() async throws {
        let cluster = try await HACluster(nodes: 3, postgres: try await PostgresCluster.shared.value, lease: "1s")
        defer { cluster.remove() }
        try await cluster.start()
        let token = try cluster.rootToken
        SecretLedger.record([token])

        let created = try await HACluster.request(cluster.nodes[1], "POST", "/api/v1/vaults", token: token, body: ["name": "ha"])
        #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
        let vault = try #require((try JSONSerialization.jsonObject(with: Data(created.body)) as? [String: Any])?["id"] as? String)

        let writer = Writer()
        let writing = Task { await writer.run(cluster, vault: vault, token: token) }
        var failoverTimes = [String: [Duration]]()
        for round in 0..<10 {
            // Writes flow in the current term first.
            #expect(await eventually { writer.lastTerm != nil && writer.acks.withLock { $0.count } > (round + 1) * 20 })
            let active = try #require(await cluster.activeNode(), "round \(round): no active node")
            let term = try #require(writer.lastTerm)
            let kind = ["kill -9", "SIGTERM", "SIGSTOP"][round % 3]
            let pid = try #require(active.pid)
            writer.down.withLock { _ = $0.insert(active.index) }
            let signalled = ContinuousClock.now
            switch kind {
            case "kill -9": kill(pid, SIGKILL)
            case "SIGTERM": kill(pid, SIGTERM)
            default: kill(pid, SIGSTOP)
            }
            let ok = await eventually { writer.firstAck(after: signalled, termAbove: term) != nil }
            #expect(ok, "round \(round) (\(kind)): no write acknowledged in a new term")
            if let ack = writer.firstAck(after: signalled, termAbove: term) {
                failoverTimes[kind, default: []].append(ack.at - signalled)
            }
            // Bring the old active back: resumed (it must have stepped down), or restarted and
            // unsealed by its agent, which kept running.
            if kind == "SIGSTOP" {
                try await Task.sleep(for: .milliseconds(500))   // well past the 1 s lease by now
                kill(pid, SIGCONT)
            } else {
                _ = try await active.vaultd.stop(signal: SIGKILL)
                try await cluster.start(active)
            }
            writer.down.withLock { _ = $0.remove(active.index) }
        }
        #expect(await eventually { writer.acks.withLock { $0.count } > 230 })
        writer.stopped.store(true, ordering: .relaxed)
        await writing.value

        let acks = writer.acks.withLock { $0 }
        // Terms never go back in the order the client saw acknowledgements: no node acknowledged
        // a write after a later term had begun serving.
        var highest: Int64 = 0
        var wentBack = [Ack]()
        for ack in acks {
            guard let term = ack.term else { continue }
            if term < highest { wentBack.append(ack) }
            highest = max(highest, term)
        }
        #expect(wentBack.isEmpty, "acknowledged in an older term after a newer one served: \(wentBack.prefix(5))")
        // Each acknowledging term was taken by a node that said so.
        let owners = cluster.termOwners()
        let terms = Set(acks.compactMap(\.term))
        #expect(terms.isSubset(of: Set(owners.keys)), "terms \(terms.sorted()) vs logged \(owners.sorted { $0.key < $1.key })")
        #expect(terms.count >= 11, "10 failovers: at least 11 terms served writes; got \(terms.sorted())")

        // Every acknowledged write is there, with its value, through any node.
        var missing = [String]()
        for (offset, ack) in acks.enumerated() {
            let node = cluster.nodes[offset % cluster.nodes.count]
            let answer = try await HACluster.request(node, "GET", "/api/v1/vaults/\(vault)/secrets/\(ack.secretID)", token: token)
            let value = (try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["value"] as? String
            if answer.status != 200 || value != ack.value { missing.append("\(ack.sequence): \(answer.status)") }
        }
        #expect(missing.isEmpty, "acknowledged writes lost: \(missing.prefix(10))")

        let summary = failoverTimes.sorted { $0.key < $1.key }.map { kind, times in
            "\(kind): " + times.map { String(format: "%.0f ms", Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000) }.joined(separator: ", ")
        }
        print("HA failover: \(acks.count) writes acknowledged, \(writer.failures.withLock { $0 }) refused or failed, terms \(terms.min() ?? 0)...\(terms.max() ?? 0); signal → first write in a new term: \(summary.joined(separator: "; "))")
    }

    @Test("a new term starts from storage: a token cached by a node, revoked while another node led, is refused when the first leads again")
    func cachesBelongToATerm() async throws {
        let cluster = try await HACluster(nodes: 2, postgres: try await PostgresCluster.shared.value, lease: "1s")
        defer { cluster.remove() }
        try await cluster.start()
        let root = try cluster.rootToken
        let first = try #require(await cluster.activeNode())
        let second = try #require(cluster.nodes.first { $0 !== first })
        let created = try await HACluster.request(first, "POST", "/api/v1/tokens", token: root, body: ["capabilities": ["read", "write"]])
        let token = try #require(HAStandbyTests.json(created)["token"] as? String)
        SecretLedger.record([root, token])
        // The first node reads the token record, and keeps it.
        #expect(try await HACluster.request(first, "GET", "/api/v1/vaults", token: token).status == 200)

        // It loses the lease (paused past it); the second leads, and the token is revoked there.
        let pid = try #require(first.pid)
        kill(pid, SIGSTOP)
        #expect(await eventually { await cluster.activeNode() === second })
        kill(pid, SIGCONT)
        let revoked = try await HACluster.request(second, "PUT", "/v1/auth/token/revoke", token: root, body: ["token": token])
        #expect(revoked.status == 204, "\(String(decoding: revoked.body, as: UTF8.self))")
        // The first leads again (the second stops); the token is unknown to its new term.
        _ = try await second.vaultd.stop(signal: SIGTERM)
        #expect(await eventually { await cluster.activeNode() === first })
        let refused = try await HACluster.request(first, "GET", "/api/v1/vaults", token: token)
        #expect(refused.status == 403, "a token revoked in an earlier term still opened the vault: \(refused.status)")
        #expect(try await HACluster.request(first, "GET", "/api/v1/vaults", token: root).status == 200)
    }

    @Test("PostgreSQL restarted (pg_ctl restart -m fast) twice under writes: writes resume without restarting any vaultd; every acknowledged write reads back")
    func databaseRestart() async throws {
        let postgres = try await PostgresCluster.start()   // this test's own: it restarts it
        let cluster = try await HACluster(nodes: 3, postgres: postgres, lease: "1s")
        defer { cluster.remove() }
        try await cluster.start()
        let token = try cluster.rootToken
        SecretLedger.record([token])
        let created = try await HACluster.request(cluster.nodes[0], "POST", "/api/v1/vaults", token: token, body: ["name": "pg-restart"])
        let vault = try #require((try JSONSerialization.jsonObject(with: Data(created.body)) as? [String: Any])?["id"] as? String)
        let pids = cluster.nodes.map(\.pid)

        let writer = Writer()
        let writing = Task { await writer.run(cluster, vault: vault, token: token) }
        for round in 0..<2 {
            #expect(await eventually { writer.acks.withLock { $0.count } > (round + 1) * 50 })
            let restarted = ContinuousClock.now
            try await postgres.restart()
            #expect(await eventually { writer.acks.withLock { $0.last.map { $0.at > restarted } ?? false } }, "round \(round): writes did not resume")
        }
        #expect(await eventually { writer.acks.withLock { $0.count } > 150 })
        writer.stopped.store(true, ordering: .relaxed)
        await writing.value
        #expect(cluster.nodes.map(\.pid) == pids, "no vaultd was restarted")
        for ack in writer.acks.withLock({ $0 }) {
            let answer = try await HACluster.request(cluster.nodes[0], "GET", "/api/v1/vaults/\(vault)/secrets/\(ack.secretID)", token: token)
            #expect(answer.status == 200, "write \(ack.sequence) lost")
        }
    }

    @Test("a node started while PostgreSQL is down waits, says so once, and serves once the database is back")
    func startsBeforeDatabase() async throws {
        let postgres = try await PostgresCluster.start()
        let cluster = try await HACluster(nodes: 1, postgres: postgres, lease: "1s")
        defer { cluster.remove() }
        try await postgres.stop()
        let node = cluster.nodes[0]
        let starting = Task { try await cluster.start(node) }
        #expect(await eventually { node.vaultd.log().contains("waiting for PostgreSQL") })
        try await Task.sleep(for: .seconds(2))
        try await postgres.startAgain()
        try await starting.value
        let log = node.vaultd.log()
        #expect(log.components(separatedBy: "waiting for PostgreSQL").count == 2, "said once")
        #expect(!log.contains(PostgresCluster.password), "the password is never logged")
        #expect(await eventually { await cluster.activeNode() != nil })
    }
}

/// What standbys answer, checked with raw HTTP and the real `bao` CLI pointed at a standby.
@Suite("vaultd standbys answer clients")
struct HAStandbyTests {
    static func json(_ response: HTTPClientResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    @Test("health 200/429 (standbyok, standbycode), sys/leader and sys/ha-status from every node; a standby forwards, or answers 307 with X-Vault-No-Request-Forwarding; hvac through a standby; bao status and bao operator step-down through a standby")
    func standbys() async throws {
        let cluster = try await HACluster(nodes: 3, postgres: try await PostgresCluster.shared.value, lease: "1s")
        defer { cluster.remove() }
        try await cluster.start()
        let token = try cluster.rootToken
        SecretLedger.record([token])
        let active = try #require(await cluster.activeNode())
        let standby = try #require(cluster.nodes.first { $0 !== active })
        // Every standby knows the leader before the checks.
        #expect(await eventually {
            (try? await HACluster.request(standby, "GET", "/v1/sys/leader", token: nil)).map { Self.json($0)["leader_address"] as? String == active.apiAddress } ?? false
        })

        #expect(try await HACluster.request(active, "GET", "/v1/sys/health", token: nil).status == 200)
        let health = try await HACluster.request(standby, "GET", "/v1/sys/health", token: nil)
        #expect(health.status == 429 && Self.json(health)["standby"] as? Bool == true)
        #expect(try await HACluster.request(standby, "GET", "/v1/sys/health?standbyok=true", token: nil).status == 200)
        #expect(try await HACluster.request(standby, "GET", "/v1/sys/health?standbycode=473", token: nil).status == 473)

        let leader = Self.json(try await HACluster.request(standby, "GET", "/v1/sys/leader", token: nil))
        #expect(leader["ha_enabled"] as? Bool == true && leader["is_self"] as? Bool == false && leader["leader_address"] as? String == active.apiAddress)
        #expect((leader["active_time"] as? String)?.hasPrefix("20") == true, "\(leader)")
        let own = Self.json(try await HACluster.request(active, "GET", "/v1/sys/leader", token: nil))
        #expect(own["is_self"] as? Bool == true && own["leader_address"] as? String == active.apiAddress)
        let nodes = Self.json(try await HACluster.request(standby, "GET", "/v1/sys/ha-status", token: token))["nodes"] as? [[String: Any]] ?? []
        #expect(nodes.contains { $0["api_address"] as? String == active.apiAddress && $0["active_node"] as? Bool == true }, "\(nodes)")

        // Metrics say which node leads (each node answers for itself).
        let activeMetrics = String(decoding: try await HACluster.request(active, "GET", "/v1/sys/metrics", token: token).body, as: UTF8.self)
        let standbyMetrics = String(decoding: try await HACluster.request(standby, "GET", "/v1/sys/metrics", token: token).body, as: UTF8.self)
        #expect(activeMetrics.contains("vaultd_ha_active 1") && !activeMetrics.contains("vaultd_ha_term 0"), "\(activeMetrics)")
        #expect(standbyMetrics.contains("vaultd_ha_active 0") && standbyMetrics.contains("vaultd_ha_term 0"), "\(standbyMetrics)")

        // Forwarded: a vault created through a standby, read through another; the term names the active node's.
        let created = try await HACluster.request(standby, "POST", "/api/v1/vaults", token: token, body: ["name": "through-standby"])
        #expect(created.status == 201 && created.headers["x-vaultd-term"] != nil)
        let id = try #require(Self.json(created)["id"] as? String)
        let other = try #require(cluster.nodes.first { $0 !== active && $0 !== standby })
        #expect(try await HACluster.request(other, "GET", "/api/v1/vaults/\(id)", token: token).status == 200)
        // Not forwarded when the client says so: 307 to the active node.
        let redirect = try await HACluster.request(standby, "GET", "/api/v1/vaults/\(id)", token: token, headers: [("X-Vault-No-Request-Forwarding", "true")])
        #expect(redirect.status == 307 && redirect.headers["location"] == active.apiAddress + "/api/v1/vaults/\(id)", "\(redirect.status) \(redirect.headers)")
        // A bad token through a standby is the active node's 403, not a standby's guess.
        #expect(try await HACluster.request(standby, "GET", "/api/v1/vaults", token: "hvs.not-a-token").status == 403)

        // hvac pointed at a standby: its own parsing of the leader and health answers, and a
        // token made and looked up through the standby (both forwarded to the active node).
        let hvac = try await TestEnvironment.runJSONOracle("""
            import hvac, json, sys
            given = json.load(sys.stdin)
            client = hvac.Client(url=given["url"], token=given["root"])
            leader = client.sys.read_leader_status()
            health = client.sys.read_health_status(standby_ok=True, method="GET")
            created = client.auth.token.create(policies=["read"], display_name="via-standby")
            token = created["auth"]["client_token"]
            me = hvac.Client(url=given["url"], token=token).auth.token.lookup_self()["data"]
            print(json.dumps({"sealed": client.sys.is_sealed(), "is_self": leader["is_self"], "leader": leader["leader_address"],
                              "standby": health["standby"], "policies": me["policies"], "token": token}))
            """, ["url": standby.apiAddress, "root": token]) as? [String: Any]
        if let made = hvac?["token"] as? String { SecretLedger.record([made]) }
        #expect(hvac?["sealed"] as? Bool == false && hvac?["is_self"] as? Bool == false && hvac?["leader"] as? String == active.apiAddress, "\(String(describing: hvac))")
        #expect(hvac?["standby"] as? Bool == true && hvac?["policies"] as? [String] == ["read"], "\(String(describing: hvac))")

        // The real bao CLI pointed at a standby.
        let environment = ["VAULT_ADDR": standby.apiAddress, "VAULT_TOKEN": token, "PATH": "/usr/bin:/bin"]
        let status = try await TestEnvironment.run(OpenBaoHarness.bao, ["status"], environment: environment)
        #expect(status.status == 0 && status.stdout.contains("standby") && status.stdout.contains(active.apiAddress), "\(status.stdout)\(status.stderr)")
        let stepDown = try await TestEnvironment.run(OpenBaoHarness.bao, ["operator", "step-down"], environment: environment)
        #expect(stepDown.status == 0, "\(stepDown.stdout)\(stepDown.stderr)")
        #expect(await eventually { if let now = await cluster.activeNode() { return now !== active } else { return false } }, "another node leads after step-down")
        // A standby cannot be stepped down by a non-root token either: forwarded, refused there.
        #expect(try await HACluster.request(standby, "PUT", "/v1/sys/step-down", token: nil).status == 403)
    }
}
