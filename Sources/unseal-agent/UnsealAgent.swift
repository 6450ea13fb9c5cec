import ArgumentParser
import VaultCLI

@main
struct UnsealAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unseal-agent",
        abstract: "Watches a vault over its Unix socket and pushes the seal key in when it is sealed.",
        version: BuildInfo.version,
        subcommands: [Version.self]
    )

    static func main() async {
        await CommandRunner.main(self)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("unseal-agent \(BuildInfo.version)") }
}
