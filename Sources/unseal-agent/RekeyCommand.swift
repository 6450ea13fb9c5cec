import ArgumentParser
import Logging
import SealSourceCore
import UnsealAgent
import VaultCLI

struct Rekey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give every configured vaultd a new seal key, with no moment a crash could lose it.",
        discussion: HelpText.prose("""
            The new key is stored first, as pending, beside the current one (the seal source's file
            with .pending); then each vault is rekeyed to it (one transaction per vault); only when
            every vault holds it does it replace the current key. The running agent unseals a vault
            with the current key or, failing that, the pending one, so a crash of this command, of
            the agent or of a vault at any instant leaves every vault unsealable. Run it again to
            finish an interrupted rekey: it reuses the pending key.

            Needs a seal source with a file on this host (file, awskms, azurekeyvault unwrap mode),
            every vault unsealed and vaultd (for OpenBao use bao operator rekey). Prints the new
            key's validation hash, never the key. Runbook: docs/operations.md.
            """)
    )

    @Option(name: .long, help: "The agent's configuration file.") var config: String

    func run() async throws {
        let configuration = try await loadConfiguration(config)
        LineLogHandler.bootstrap(level: configuration.logLevel, json: configuration.logFormat == "json")
        let outcome: AgentRekey.Outcome
        do {
            outcome = try await AgentRekey(configuration: configuration, logger: Logger(label: "unseal-agent.rekey")).run()
        } catch let error as SealSourceError {
            throw CommandFailure(error.message, exitCode: error.errorClass == .retryable ? 1 : 2)
        }
        if outcome.resumed { print("resumed an interrupted rekey") }
        for address in outcome.rekeyed { print("rekeyed \(address)") }
        for address in outcome.alreadyOnNewKey { print("already on the new key: \(address)") }
        print("validation_hash: \(outcome.validationHash)")
    }
}
