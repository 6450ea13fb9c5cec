import ArgumentParser
import VaultCLI

/// `vaultctl token revoke`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage tokens.",
        subcommands: [Revoke.self]
    )

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
                _ = try await perform { try await client.call("POST", "/v1/auth/token/revoke-self") }
            } else {
                let token = try target ?? {
                    guard let input = SecretInput.readStandardInput(), !input.isEmpty else { throw CommandFailure("give the token to revoke") }
                    return input
                }()
                _ = try await perform { try await client.call("POST", "/v1/auth/token/revoke", body: ["token": token]) }
            }
            print("Token revoked.")
        }
    }
}
