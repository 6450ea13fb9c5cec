import ArgumentParser
import Foundation
import HCL
import VaultCLI
import VaultServer

@main
struct Vaultd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaultd",
        abstract: "The vault server: holds keys and secrets, starts sealed, never holds cloud credentials.",
        version: BuildInfo.version,
        subcommands: [Server.self, Version.self]
    )

    static func main() async {
        await CommandRunner.main(self)
    }
}

struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the vault server.",
        discussion: HelpText.prose("""
            With --config, reads an HCL (or JSON) file:

              storage "sqlite" { path = "/var/lib/vaultd/vault.db" }
              listener "unix" {
                address = "/run/vaultd/vaultd.sock"
                socket_mode = "0660"  allowed_uids = [998]
              }
              listener "tcp" {
                address = "127.0.0.1:8200"  tls_cert_file = "…"  tls_key_file = "…"
              }
              seal_validation_hash = "0x…"     # or SEAL_UNSEAL_VALIDATION_HASH
              log_level = "info"               # trace, debug, info, warn, error
              log_format = "text"              # or "json"

            The server starts sealed; unseal it with 'vaultctl operator unseal', 'bao operator unseal'
            or unseal-agent. SIGTERM finishes requests in progress, wipes keys and exits.

            --dev starts a throw-away server: storage in a new temporary directory, a unix socket
            there and a TCP listener on 127.0.0.1:8200 (--dev-listen-address), initialised and
            unsealed, with the seal key and root token printed. Never for real secrets.
            """)
    )

    @Option(name: .long, help: "The configuration file (HCL or JSON).")
    var config: String?

    @Flag(name: .long, help: "Run a throw-away development server (see below).")
    var dev = false

    @Option(name: .customLong("dev-listen-address"), help: "TCP address for --dev (port 0 picks a free port).")
    var devListenAddress = "127.0.0.1:8200"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServerConfiguration
        if dev {
            guard config == nil else { throw CommandFailure("use either --config or --dev, not both") }
            let directory = try makeTemporaryDirectory()
            guard let (host, port) = parseAddress(devListenAddress) else {
                throw CommandFailure("--dev-listen-address: expected HOST:PORT, got \(devListenAddress)")
            }
            configuration = ServerConfiguration(
                storage: .sqlite(path: directory + "/vault.db"),
                listeners: [
                    .init(kind: .unix(path: directory + "/vaultd.sock", mode: 0o600, allowedUIDs: [], allowedGIDs: []), maxRequestSize: ServerConfiguration.defaultMaxRequestSize),
                    .init(kind: .tcp(host: host, port: port, tlsCertFile: nil, tlsKeyFile: nil), maxRequestSize: ServerConfiguration.defaultMaxRequestSize),
                ],
                validationHash: nil,
                logLevel: environment["VAULTD_LOG_LEVEL"] ?? "info"
            )
        } else {
            guard let config else { throw CommandFailure("give --config FILE (or --dev for a development server)") }
            do {
                configuration = try ServerConfiguration.load(path: config, environment: environment)
            } catch let error as HCLError {
                throw CommandFailure("configuration error: \(error)", exitCode: 1)
            } catch let error as VaultServerError {
                throw CommandFailure("configuration error: \(error)", exitCode: 1)
            }
        }
        LineLogHandler.bootstrap(level: configuration.logLevel, json: configuration.logFormat == .json)
        do {
            try await VaultServerRunner.run(configuration, dev: dev ? .init() : nil, environment: environment)
        } catch {
            throw CommandFailure("\(error)", exitCode: 1)
        }
    }

    private func makeTemporaryDirectory() throws -> String {
        var template = Array(((NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/") + "vaultd-dev-XXXXXX").utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CommandFailure("cannot create a temporary directory", exitCode: 1)
        }
        return String(cString: result)
    }

    private func parseAddress(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        return (String(text[..<colon]), port)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("vaultd \(BuildInfo.version)") }
}
