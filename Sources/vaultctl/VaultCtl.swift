import ArgumentParser
import VaultCLI

@main
struct VaultCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaultctl",
        abstract: "Operate a vaultd (or OpenBao/Vault) server and handle seal keys.",
        discussion: """
            Exit codes: 0 success, 1 failure, 2 bad input (a malformed key, share or argument).
            """,
        version: BuildInfo.version,
        subcommands: [
            StatusCommand.self, OperatorCommand.self, VaultsCommand.self, SecretsCommand.self, KeysCommand.self, VerifyCommand.self,
            TokenCommand.self, KeyCommand.self,
        ]
    )

    static func main() async {
        await CommandRunner.main(self)
    }
}
