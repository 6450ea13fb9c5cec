import ArgumentParser
import AWSAuth
import LeanFoundation
import HCL
import SealKit
import UnsealAgent
import VaultCLI

@main
struct UnsealAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unseal-agent",
        abstract: "Watches a vault over its Unix socket and pushes the seal key in when it is sealed.",
        discussion: HelpText.prose("""
            Works with vaultd and with OpenBao/HashiCorp Vault (Shamir seal). Without --config the
            Provide conventions apply: SEAL_UNSEAL_PROVIDER=environment (key in SEAL_UNSEAL_KEY) or
            =docker (key file at SEAL_UNSEAL_KEY_SECRET_PATH), vault at VAULT_ADDR.
            """),
        version: BuildInfo.version,
        subcommands: [Run.self, Check.self, Wrap.self, Rewrap.self, Rekey.self, Doctor.self, Version.self, InitCustodianCommand.self]
    )

    static func main() async {
        // Every subcommand may hold key material (run, the init custodian, wrap, check, doctor):
        // no core dumps, and not dumpable — a same-user ptrace or /proc/PID/mem cannot read it.
        do { try ProcessHardening.disableCoreDumps() } catch {
            StandardStreams.write("unseal-agent: warning: could not disable core dumps: \(error.reason)\n", to: 2)
        }
        await CommandRunner.main(self)
    }
}

/// Loads the configuration from a file or the environment, with errors naming the setting.
func loadConfiguration(_ path: String?) async throws -> AgentConfiguration {
    let environment = ProcessInfo.processInfo.environment
    do {
        if let path { return try await AgentConfiguration.load(path: path, environment: environment) }
        return try await AgentConfiguration.fromEnvironment(environment)
    } catch let error as HCLError {
        throw CommandFailure("configuration error: \(error)", exitCode: 1)
    } catch let error as AgentError {
        throw CommandFailure("configuration error: \(error)", exitCode: 1)
    } catch let error as AWSError {
        throw CommandFailure("configuration error: \(error)", exitCode: 1)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep the configured vaults unsealed (runs until SIGTERM).",
        discussion: HelpText.prose("""
            unseal-agent.hcl:

              vault { address = "unix:///run/vaultd/vaultd.sock" }  # repeatable
              seal "file" { path = "/run/secrets/unseal-key"  priority = 1 }
              seal "env" { priority = 9 }            # SEAL_UNSEAL_KEY; development only
              init {
                enabled = true  secret_shares = 1
                root_token = "discard"               # or "file:/path"
              }
              telemetry { address = "127.0.0.1:9102" }  # /metrics /healthz /readyz
              retry { initial = "200ms"  max = "30s" }
              log_level = "info"  log_format = "text"   # or "json"
            """)
    )

    @Option(name: .long, help: "The configuration file (HCL or JSON).") var config: String?

    func run() async throws {
        let configuration = try await loadConfiguration(config)
        LineLogHandler.bootstrap(level: configuration.logLevel, json: configuration.logFormat == "json")
        do {
            // OpenBao/Vault's init runs in a child that survives this process (ShareCustody).
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let custodian = InitCustodian(executable: executable, arguments: ["init-custodian"] + (config.map { ["--config", $0] } ?? []))
            try await UnsealAgentRunner.run(configuration, custodian: custodian)
        } catch {
            throw CommandFailure("\(error)", exitCode: 1)
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, reach each vault and fetch the key material, without pushing it.",
        discussion: "Exit code 0 when everything is in order, 1 otherwise (each problem on its own line)."
    )

    @Option(name: .long, help: "The configuration file (HCL or JSON).") var config: String?

    func run() async throws {
        let configuration = try await loadConfiguration(config)
        let lines = await AgentCheck.run(configuration)
        for line in lines { print("\(line.ok ? "ok  " : "FAIL") \(line.text)") }
        if lines.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("unseal-agent \(BuildInfo.version)") }
}
