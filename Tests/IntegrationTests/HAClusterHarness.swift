import Foundation
import HTTPTransport
import TestSupport
import VaultClient

/// Several vaultd nodes on one PostgreSQL with `ha_enabled`, each with its own unseal-agent (the
/// sidecar model), all agents on the same seal source. Every node listens on its unix socket (its
/// agent's door) and on a loopback TCP port, its `api_addr`.
final class HACluster: @unchecked Sendable {
    final class Node: @unchecked Sendable {
        let index: Int
        let vaultd: VaultdHarness
        let port: Int
        var agent: ChildProcess?
        var apiAddress: String { "http://127.0.0.1:\(port)" }

        init(index: Int, vaultd: VaultdHarness, port: Int) {
            self.index = index
            self.vaultd = vaultd
            self.port = port
        }

        var pid: Int32? { vaultd.process?.processIdentifier }
    }

    let postgres: PostgresCluster
    let database: String
    let directory: URL
    let keyFile: String
    let tokenFile: String
    var nodes: [Node] = []

    /// - Parameters:
    ///   - postgres: a cluster of the test's own when it restarts PostgreSQL; else the shared one.
    ///   - lease: `ha_lease_ttl`.
    init(nodes count: Int, postgres: PostgresCluster, lease: String = "1s") async throws {
        self.postgres = postgres
        database = try await postgres.createDatabase()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ha-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        keyFile = directory.appendingPathComponent("seal-key").path
        tokenFile = directory.appendingPathComponent("root-token").path
        for index in 0..<count {
            let port = freePort()
            let storage = """
                storage "postgresql" {
                  connection_url = "\(postgres.url(database))"
                  ha_enabled     = "true"
                  ha_lease_ttl   = "\(lease)"
                }
                """
            let extra = """
                listener "tcp" {
                  address     = "127.0.0.1:\(port)"
                  tls_disable = 1
                }
                api_addr = "http://127.0.0.1:\(port)"
                """
            nodes.append(Node(index: index, vaultd: try VaultdHarness(extra: extra, storage: storage), port: port))
        }
    }

    /// Starts every node and its agent at once; returns when all are unsealed.
    func start() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { try await self.start(node) } }
            try await group.waitForAll()
        }
        guard await eventually({ await self.activeNode() != nil }) else {
            throw TestSupportError("no node became active: \(nodes.map { $0.vaultd.log(tail: 10) }.joined(separator: "\n---\n"))")
        }
    }

    func start(_ node: Node) async throws {
        if node.agent == nil || node.agent?.isRunning == false {
            let config = try AgentTests.writeAgentConfig(node.vaultd.directory, vault: node.vaultd.address, keyFile: keyFile,
                                                         extra: "init { enabled = true  root_token = \"file:\(tokenFile)\" }")
            node.agent = try AgentTests.startAgent(config, in: node.vaultd.directory)
        }
        try await node.vaultd.start()
        let client = try node.vaultd.client()
        guard await eventually({ await AgentTests.isUnsealed(client) }) else {
            throw TestSupportError("node \(node.index) was not unsealed: \(node.agent?.log.suffix(1500) ?? "")")
        }
    }

    var rootToken: String {
        get throws { try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// The node whose sys/leader says `is_self`, asked of each node itself.
    func activeNode() async -> Node? {
        for node in nodes where node.vaultd.process?.hasEnded == false {
            if let answer = try? await Self.request(node, "GET", "/v1/sys/leader", token: nil, timeout: .seconds(2)),
               answer.status == 200, (try? JSONSerialization.jsonObject(with: Data(answer.body))) .flatMap({ ($0 as? [String: Any])?["is_self"] as? Bool }) == true {
                return node
            }
        }
        return nil
    }

    /// A request to `node`'s TCP listener (its api_addr).
    static func request(_ node: Node, _ method: String, _ path: String, token: String?, body: [String: Any]? = nil,
                        headers: [(String, String)] = [], timeout: Duration = .seconds(10)) async throws -> HTTPClientResponse {
        var all = headers
        if let token { all.append(("X-Vault-Token", token)) }
        var bytes: [UInt8]?
        if let body {
            bytes = Array(try JSONSerialization.data(withJSONObject: body))
            all.append(("Content-Type", "application/json"))
        }
        return try await HTTPClient.send(HTTPClientRequest(method: method, url: node.apiAddress + path, headers: all, body: bytes,
                                                           connectTimeout: .seconds(2), timeout: timeout), proxies: ProxyEnvironment([:]))
    }

    /// Which node took which term, from the nodes' logs ("became the active node" term=N).
    func termOwners() -> [Int64: Int] {
        var owners = [Int64: Int]()
        for node in nodes {
            for line in node.vaultd.log().split(separator: "\n") where line.contains("became the active node") {
                if let range = line.range(of: "term="), let term = Int64(line[range.upperBound...].prefix { $0.isNumber }) {
                    owners[term] = node.index
                }
            }
        }
        return owners
    }

    func remove() {
        for node in nodes {
            if let pid = node.pid { kill(pid, SIGCONT) }
            node.vaultd.remove()
        }
        SecretLedger.removeDirectory(directory)
    }
}
