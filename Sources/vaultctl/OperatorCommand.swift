import ArgumentParser
import Foundation
import VaultCLI
import VaultWire

/// `vaultctl operator …`: init, unseal, seal, rekey, generate-root, snapshot.
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Initialise, unseal and seal a vault (vaultd, OpenBao or Vault); rekey; make a root token; save and restore snapshots.",
        subcommands: [Init.self, Unseal.self, Seal.self, RekeyCommand.self, GenerateRootCommand.self, SnapshotCommand.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Initialise the vault and print its unseal keys and root token.",
            discussion: HelpText.prose("""
                With one key share (the default), the share is the seal key itself. --seal-key stores a
                key you already hold (read from standard input with '-'), so it is safe before the vault
                uses it; vaultd only.
                """)
        )

        @OptionGroup var server: ServerOptions
        @Option(name: [.customLong("key-shares"), .customLong("key-shares", withSingleDash: true)], help: "Number of key shares (1…255).")
        var keyShares = 1
        @Option(name: [.customLong("key-threshold"), .customLong("key-threshold", withSingleDash: true)], help: "Shares needed to unseal.")
        var keyThreshold = 1
        @Option(name: [.customLong("recovery-shares"), .customLong("recovery-shares", withSingleDash: true)], help: "Recovery shares (break-glass split of the seal key).")
        var recoveryShares = 0
        @Option(name: [.customLong("recovery-threshold"), .customLong("recovery-threshold", withSingleDash: true)], help: "Recovery shares needed.")
        var recoveryThreshold = 0
        @Option(name: .customLong("seal-key"), help: "Use this seal key ('-' reads it from standard input).")
        var sealKey: String?
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            var request = InitRequest(secretShares: keyShares, secretThreshold: keyThreshold,
                                      recoveryShares: recoveryShares, recoveryThreshold: recoveryThreshold)
            if let sealKey {
                request.sealKey = sealKey == "-" ? try promptSecret("Seal key: ") : sealKey
            }
            let result = try await perform { [request] in try await client.initialize(request) }
            if json {
                try printJSON(result)
                return
            }
            for (index, key) in result.keysBase64.enumerated() {
                print("Unseal Key \(index + 1): \(key)")
            }
            for (index, key) in (result.recoveryKeysBase64 ?? []).enumerated() {
                print("Recovery Key \(index + 1): \(key)")
            }
            print("")
            print("Initial Root Token: \(result.rootToken)")
            if let hash = result.validationHash {
                print("Validation Hash: \(hash)")
            }
            print("")
            print("The vault is initialised and sealed. Unseal it with \(keyThreshold) of the \(keyShares) key(s).")
        }
    }

    struct Unseal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give the vault a key or share; prompts without echo when KEY is omitted.",
            discussion: "Exit codes: 0 unsealed, 2 still sealed (more shares needed) or the key was refused, 1 error."
        )

        @OptionGroup var server: ServerOptions
        @Argument(help: "The key or share (phrase, base64 or hex). Omit it to be prompted.")
        var key: String?
        @Flag(help: "Forget the shares given so far.") var reset = false

        func run() async throws {
            let client = try server.client()
            let status: SealStatusResponse
            if reset {
                status = try await perform { try await client.resetUnseal() }
            } else {
                let text = try key ?? promptSecret("Unseal key (will be hidden): ")
                status = try await perform { try await client.unseal(key: text) }
            }
            print("Sealed: \(status.sealed)")
            if status.sealed {
                print("Unseal Progress: \(status.progress)/\(status.threshold)")
                throw ExitCode(2)
            }
        }
    }

    struct Seal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Seal the vault (needs the root token); its keys are wiped from memory.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let client = try server.client()
            try await perform { try await client.seal() }
            print("Vault sealed.")
        }
    }
}
