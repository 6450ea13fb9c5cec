import ArgumentParser
import VaultCLI

@main
struct VaultCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaultctl",
        abstract: "Operate a vaultd (or OpenBao/Vault) server and handle seal keys.",
        discussion: HelpText.prose("""
            Exit codes, as Vault's CLI: 0 success; 1 an error, a refusal or bad input (a malformed key, \
            share or argument); 2 only for a state: sealed (status, unseal) or more shares needed \
            (rekey, generate-root).
            """),
        version: BuildInfo.version,
        subcommands: [
            StatusCommand.self, OperatorCommand.self, VaultsCommand.self, SecretsCommand.self, KeysCommand.self, VerifyCommand.self,
            TokenCommand.self, KeyCommand.self,
        ]
    )

    static func main() async {
        await CommandRunner.main(self, badInput: 1)
    }
}
