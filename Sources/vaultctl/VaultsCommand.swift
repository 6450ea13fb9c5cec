import ArgumentParser
import Foundation
import VaultCLI
import VaultClient

/// `vaultctl vaults …`: the containers of keys and secrets (vaultd).
struct VaultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vaults",
        abstract: "Create, list, show and delete vaults (vaultd).",
        discussion: HelpText.prose("""
            A vault holds keys and secrets under its own master key. Deleting one removes everything in
            it; only its owner (the token that created it) or the root token may.
            """),
        subcommands: [Create.self, List.self, Get.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a vault; prints its id.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The vault's name.") var name: String
        @Option(help: "A description.") var description = ""
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let vault = try await perform {
                try await client.call("POST", "/api/v1/vaults", body: ["name": name, "description": description])
            } as? [String: Any] ?? [:]
            if json { try printJSON(vault) } else { print(vault["id"] as? String ?? "") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the vaults this token reaches.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let vaults = try await perform { try await client.call("GET", "/api/v1/vaults") } as? [[String: Any]] ?? []
            if json { try printJSON(vaults); return }
            for vault in vaults {
                print([vault["id"], vault["name"], vault["description"]].map { $0 as? String ?? "" }.joined(separator: "  "))
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a vault's record as JSON.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The vault's id or name.") var vault: String

        func run() async throws {
            let client = try server.client()
            let id = try await resolveVault(client, vault, create: false)
            try printJSON(try await perform { try await client.call("GET", "/api/v1/vaults/\(id)") } ?? [:])
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a vault with all its keys and secrets.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The vault's id or name.") var vault: String

        func run() async throws {
            let client = try server.client()
            let id = try await resolveVault(client, vault, create: false)
            _ = try await perform { try await client.call("DELETE", "/api/v1/vaults/\(id)") }
            print("Deleted \(id).")
        }
    }
}
