import ArgumentParser
import VaultCLI

@main
struct Vaultd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaultd",
        abstract: "The vault server: holds keys and secrets, starts sealed, never holds cloud credentials.",
        version: BuildInfo.version,
        subcommands: [Version.self]
    )

    static func main() async {
        await CommandRunner.main(self)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("vaultd \(BuildInfo.version)") }
}
