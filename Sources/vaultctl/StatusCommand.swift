import ArgumentParser
import VaultCLI

/// `vaultctl status`: the seal status, with Vault's exit codes.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether the vault is initialised and sealed.",
        discussion: "Exit codes (as Vault's CLI): 0 unsealed, 2 sealed or not initialised, 1 error."
    )

    @OptionGroup var server: ServerOptions
    @Flag(help: "Print the seal-status JSON.") var json = false

    func run() async throws {
        let client = try server.client()
        let status = try await perform { try await client.sealStatus() }
        if json {
            try printJSON(status)
        } else {
            let sealed = status["sealed"] as? Bool ?? true
            let rows: [(String, String)] = [
                ("Seal Type", status["type"] as? String ?? "?"),
                ("Initialized", "\(status["initialized"] as? Bool ?? false)"),
                ("Sealed", "\(sealed)"),
                ("Total Shares", "\(status["n"] as? Int ?? 0)"),
                ("Threshold", "\(status["t"] as? Int ?? 0)"),
                ("Unseal Progress", "\(status["progress"] as? Int ?? 0)/\(status["t"] as? Int ?? 0)"),
                ("Version", status["version"] as? String ?? "?"),
                ("Storage Type", status["storage_type"] as? String ?? "?"),
            ] + (sealed ? [] : [("Cluster Name", status["cluster_name"] as? String ?? ""), ("Cluster ID", status["cluster_id"] as? String ?? "")])
            for (key, value) in rows {
                print(key.padding(toLength: 17, withPad: " ", startingAt: 0) + value)
            }
        }
        if (status["sealed"] as? Bool ?? true) { throw ExitCode(2) }
    }
}
