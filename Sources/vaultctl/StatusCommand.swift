import ArgumentParser
import HCL
import VaultCLI
import VaultWire

/// `vaultctl status`: the seal status, with Vault's exit codes.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether the vault is initialised and sealed.",
        discussion: HelpText.prose("""
            Exit codes (as Vault's CLI): 0 unsealed, 2 sealed or not initialised, 1 error.
            With --wait, asks again every 100 ms until the vault is unsealed or the time is up \
            (right after a restart, while unseal-agent unseals it); a vault that cannot be \
            reached yet counts as sealed until then.
            """)
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var outputFormat: OutputFormat
    var json: Bool { outputFormat.json }
    @Option(help: ArgumentHelp("Wait up to this long for the vault to be unsealed (e.g. 10s).", valueName: "duration"))
    var wait: String?

    func validate() throws {
        if let wait, Duration(configText: wait) == nil {
            throw ValidationError("--wait: '\(wait)' is not a duration; write it like 500ms, 10s or 2m")
        }
    }

    func run() async throws {
        let client = try server.client()
        let deadline = ContinuousClock.now + (wait.flatMap { Duration(configText: $0) } ?? .zero)
        var answer = try? await client.sealStatus()
        while answer?.sealed ?? true, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            answer = try? await client.sealStatus()
        }
        // Unreachable to the end: ask once more, for the error message.
        let status = if let answer { answer } else { try await perform { try await client.sealStatus() } }
        if json {
            try printJSON(status)
        } else {
            var rows: [(String, String)] = [
                ("Seal Type", status.type),
                ("Initialized", "\(status.initialized)"),
                ("Sealed", "\(status.sealed)"),
                ("Total Shares", "\(status.shares)"),
                ("Threshold", "\(status.threshold)"),
                ("Unseal Progress", "\(status.progress)/\(status.threshold)"),
                ("Version", status.version),
                ("Storage Type", status.storageType ?? "?"),
            ]
            if !status.sealed { rows += [("Cluster Name", status.clusterName ?? ""), ("Cluster ID", status.clusterID ?? "")] }
            for (key, value) in rows {
                print(key.padding(toLength: 17, withPad: " ", startingAt: 0) + value)
            }
        }
        if status.sealed { throw ExitCode(2) }
    }
}
