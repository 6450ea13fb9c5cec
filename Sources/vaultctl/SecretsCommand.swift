import ArgumentParser
import Foundation
import VaultCLI
import VaultClient
import VaultWire

/// `vaultctl secrets …`: store and read secrets in a vault.
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Store, read, list and delete secrets (vaultd).",
        discussion: HelpText.prose("""
            Secrets live in a vault (a container with its own master key). --vault names it by id or
            name; "default" is created on first use.
            """),
        subcommands: [Put.self, Get.self, List.self, Delete.self]
    )

    struct VaultOption: ParsableArguments {
        @Option(name: .long, help: "The vault's id or name.") var vault = "default"
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a secret; the value comes from standard input when omitted.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: VaultOption
        @Argument(help: "The secret's name.") var name: String
        @Argument(help: "The value (prefer standard input: arguments show in 'ps').") var value: String?
        @Option(help: "A type label.") var type = "generic"
        @Option(help: "A description.") var description = ""
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let secretValue = try value ?? {
                guard let input = SecretInput.readStandardInput(allowTerminal: true) else { throw CommandFailure("give a value") }
                return input
            }()
            let vaultID = try await resolveVault(client, target.vault, create: true)
            let created = try await resource(client, "POST", "/api/v1/vaults/\(vaultID)/secrets",
                                             body: SecretCreateRequest(name: name, value: secretValue, type: type, description: description), as: ResourceSummary.self)
            if json { try created.printJSON() } else { print(created.value.id) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a secret's value (by id, or the newest with that name).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: VaultOption
        @Argument(help: "The secret's id or name.") var secret: String
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let vaultID = try await resolveVault(client, target.vault, create: false)
            let secretID = try await resolveSecret(client, vaultID, secret)
            let record = try await resource(client, "GET", "/api/v1/vaults/\(vaultID)/secrets/\(secretID)", as: ResourceSummary.self)
            if json { try record.printJSON() } else { print(record.value.value ?? "") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the secrets in a vault (names and ids, never values).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: VaultOption
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let vaultID = try await resolveVault(client, target.vault, create: false)
            let records = try await resource(client, "GET", "/api/v1/vaults/\(vaultID)/secrets", as: [ResourceSummary].self)
            if json { try records.printJSON(); return }
            for record in records.value {
                print("\(record.id)  \(record.name ?? "")  \(record.type ?? "")")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a secret (by id, or the newest with that name).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: VaultOption
        @Argument(help: "The secret's id or name.") var secret: String

        func run() async throws {
            let client = try server.client()
            let vaultID = try await resolveVault(client, target.vault, create: false)
            let secretID = try await resolveSecret(client, vaultID, secret)
            try await resource(client, "DELETE", "/api/v1/vaults/\(vaultID)/secrets/\(secretID)")
            print("Deleted \(secretID).")
        }
    }
}

private func isID(_ text: String) -> Bool {
    text.count == 36 && text.allSatisfy { $0.isHexDigit || $0 == "-" }
}

/// The id of the vault named or identified by `nameOrID`, creating it when asked to.
func resolveVault(_ client: VaultClient, _ nameOrID: String, create: Bool) async throws -> String {
    if isID(nameOrID) { return nameOrID }
    let vaults = try await resource(client, "GET", "/api/v1/vaults", as: [ResourceSummary].self).value
    if let match = vaults.last(where: { $0.name == nameOrID }) { return match.id }
    guard create else { throw CommandFailure("no vault named '\(nameOrID)'", exitCode: 1) }
    return try await resource(client, "POST", "/api/v1/vaults", body: VaultCreateRequest(name: nameOrID), as: ResourceSummary.self).value.id
}

/// The id of the secret named or identified by `nameOrID` (the newest of that name).
func resolveSecret(_ client: VaultClient, _ vaultID: String, _ nameOrID: String) async throws -> String {
    try await resolveRecord(client, "/api/v1/vaults/\(vaultID)/secrets", nameOrID, noun: "secret")
}

/// The id of the key named or identified by `nameOrID` (the newest of that name).
func resolveKey(_ client: VaultClient, _ vaultID: String, _ nameOrID: String) async throws -> String {
    try await resolveRecord(client, "/api/v1/vaults/\(vaultID)/keys", nameOrID, noun: "key")
}

/// `nameOrID` when it is an id, else the id of the newest record named so in the listing at `path`.
private func resolveRecord(_ client: VaultClient, _ path: String, _ nameOrID: String, noun: String) async throws -> String {
    if isID(nameOrID) { return nameOrID }
    let records = try await resource(client, "GET", path, as: [ResourceSummary].self).value
    guard let match = records.last(where: { $0.name == nameOrID }) else {
        throw CommandFailure("no \(noun) named '\(nameOrID)'", exitCode: 1)
    }
    return match.id
}
