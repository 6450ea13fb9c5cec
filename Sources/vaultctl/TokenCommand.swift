import ArgumentParser
import VaultCLI
import VaultWire

/// `vaultctl token create` and `vaultctl token revoke`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage tokens.",
        subcommands: [Create.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a least-privilege token (needs the root token); prints it once.",
            discussion: HelpText.prose("""
                Capabilities: read (list and read keys and secrets), write (create and delete them; an \
                unscoped token may also create vaults, which it then owns), sign (sign, verify), encrypt \
                (encrypt, decrypt). With --vault the token reaches only those vaults (repeatable).
                Example: vaultctl token create --vault 5c1e… --capabilities read,sign
                """)
        )
        @OptionGroup var server: ServerOptions
        @Option(name: .long, help: "A vault id or name the token may reach (repeatable).") var vault: [String] = []
        @Option(help: "Comma-separated: read, write, sign, encrypt.") var capabilities: String
        @Option(name: .customLong("display-name"), help: "A label for the token.") var displayName = "token"
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            var ids: [String]?
            if !vault.isEmpty {
                ids = []
                for name in vault { ids?.append(try await resolveVault(client, name, create: false)) }
            }
            let request = TokenCreateRequest(capabilities: capabilities.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                                             displayName: displayName, vaultIDs: ids)
            let answer = try await resource(client, "POST", "/api/v1/tokens", body: request, as: TokenCreatedResponse.self)
            if json { try answer.printJSON() } else { print(answer.value.token) }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token (the root token may revoke any; others only themselves).",
            discussion: "The token to revoke is read from standard input when omitted."
        )
        @OptionGroup var server: ServerOptions
        @Argument(help: "The token to revoke.") var target: String?
        @Flag(name: .customLong("self"), help: "Revoke the token this command authenticates with.") var revokeSelf = false

        func run() async throws {
            let client = try server.client()
            if revokeSelf {
                try await resource(client, "POST", "/v1/auth/token/revoke-self")
            } else {
                let token = try target ?? {
                    guard let input = SecretInput.readStandardInput(), !input.isEmpty else { throw CommandFailure("give the token to revoke") }
                    return input
                }()
                try await resource(client, "POST", "/v1/auth/token/revoke", body: TokenRevokeRequest(token: token))
            }
            print("Token revoked.")
        }
    }
}
