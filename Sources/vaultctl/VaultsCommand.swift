import ArgumentParser
import Foundation
import VaultCLI
import VaultClient
import VaultWire

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
            let vault = try await resource(client, "POST", "/api/v1/vaults", body: VaultCreateRequest(name: name, description: description), as: ResourceSummary.self)
            if json { try vault.printJSON() } else { print(vault.value.id) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the vaults this token reaches.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let vaults = try await resource(client, "GET", "/api/v1/vaults", as: [ResourceSummary].self)
            if json { try vaults.printJSON(); return }
            for vault in vaults.value {
                print([vault.id, vault.name ?? "", vault.description ?? ""].joined(separator: "  "))
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
            try await resource(client, "GET", "/api/v1/vaults/\(id)", as: ResourceSummary.self).printJSON()
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a vault with all its keys and secrets.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The vault's id or name.") var vault: String

        func run() async throws {
            let client = try server.client()
            let id = try await resolveVault(client, vault, create: false)
            try await resource(client, "DELETE", "/api/v1/vaults/\(id)")
            print("Deleted \(id).")
        }
    }
}
