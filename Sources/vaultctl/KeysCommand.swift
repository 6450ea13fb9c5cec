import ArgumentParser
import Foundation
import VaultCLI
import VaultClient
import VaultWire

/// `vaultctl keys …`: keys held in a vault and what they do (vaultd). Not to be confused with
/// `vaultctl key`, which handles seal keys offline.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create and use keys held in a vault: encrypt, decrypt, sign, verify, derive (vaultd).",
        discussion: HelpText.prose("""
            Specs: AES-256-GCM, ChaCha20-Poly1305, Ed25519, secp256k1, P-256, RSA-2048, RSA-3072, RSA-4096, BIP39.
            Keys are named by id or by name (the newest of that name). Messages and signatures are hex;
            secp256k1 and BIP39 keys sign a 32-byte digest. Ciphertexts are hex (nonce ‖ ciphertext ‖ tag).
            """),
        subcommands: [Create.self, List.self, Get.self, Delete.self, Encrypt.self, Decrypt.self, Sign.self, Verify.self, Derive.self]
    )

    /// The vault and the key an operation names.
    struct KeyTarget: ParsableArguments {
        @Option(name: .long, help: "The vault's id or name.") var vault = "default"
        @Argument(help: "The key's id or name.") var key: String

        func resolve(_ client: VaultClient) async throws -> String {
            let vaultID = try await resolveVault(client, vault, create: false)
            let keyID = try await resolveKey(client, vaultID, key)
            return "/api/v1/vaults/\(vaultID)/keys/\(keyID)"
        }
    }

    struct SigningFlags: ParsableArguments {
        @Option(help: "RSA: PS256, PS384, PS512, RS256, RS384 or RS512 (default PS256).") var algorithm: String?
        @Option(help: "BIP39: the derivation path (default m/44'/60'/0'/0/0).") var path: String?

        var options: SignatureOptions? { SignatureOptions(algorithm: algorithm, hdDerivationPath: path) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key. Prints its id (and address or public key).",
            discussion: "With --ephemeral nothing is stored and the private key (or BIP39 mnemonic) is printed once."
        )
        @OptionGroup var server: ServerOptions
        @Option(name: .long, help: "The vault's id or name (created when it does not exist).") var vault = "default"
        @Option(help: "The key's spec, e.g. Ed25519 or AES-256-GCM.") var spec: String
        @Option(help: "A name.") var name: String
        @Option(help: "A description.") var description = ""
        @Option(help: "RSA only: sign/verify (default) or encrypt/decrypt.") var usage: String?
        @Flag(help: "BIP39 only: import the mnemonic read from standard input.") var mnemonicStdin = false
        @Flag(help: "Return the private material once; store nothing.") var ephemeral = false
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            var body = KeyCreateRequest(spec: spec, name: name, description: description, ephemeral: ephemeral, usage: usage)
            if mnemonicStdin {
                guard let words = SecretInput.readStandardInput(allowTerminal: true), !words.isEmpty else { throw CommandFailure("give the mnemonic on standard input") }
                body.mnemonic = words
            }
            let vaultID = try await resolveVault(client, vault, create: true)
            let created = try await resource(client, "POST", "/api/v1/vaults/\(vaultID)/keys", body: body, as: ResourceSummary.self)
            if json { try created.printJSON(); return }
            let key = created.value
            print(key.id)
            for (field, value) in [("address", key.address), ("hd_derivation_path", key.hdDerivationPath), ("public_key", key.publicKey),
                                   ("private_key", key.privateKey), ("mnemonic", key.mnemonic)] {
                if let value { print("\(field): \(value)") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a vault's keys (never their private material).")
        @OptionGroup var server: ServerOptions
        @Option(name: .long, help: "The vault's id or name.") var vault = "default"
        @Option(help: "Only this spec.") var spec: String?
        @Option(help: "Only this type: symmetric, asymmetric or hdwallet.") var type: String?
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let vaultID = try await resolveVault(client, vault, create: false)
            var query = [String]()
            if let spec { query.append("spec=\(spec.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? spec)") }
            if let type { query.append("type=\(type.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? type)") }
            let path = "/api/v1/vaults/\(vaultID)/keys" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let keys = try await resource(client, "GET", path, as: [ResourceSummary].self)
            if json { try keys.printJSON(); return }
            for key in keys.value {
                print([key.id, key.spec ?? "", key.usage ?? "", key.name ?? ""].joined(separator: "  "))
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's record as JSON.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget

        func run() async throws {
            let client = try server.client()
            let path = try await target.resolve(client)
            try await resource(client, "GET", path, as: ResourceSummary.self).printJSON()
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key and its material.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget

        func run() async throws {
            let client = try server.client()
            let path = try await target.resolve(client)
            try await resource(client, "DELETE", path)
            print("Deleted \(path.split(separator: "/").last ?? "").")
        }
    }

    struct Encrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encrypt data (an argument, else standard input); prints hex.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget
        @Argument(help: "The plaintext (prefer standard input: arguments show in 'ps').") var data: String?
        @Flag(help: "The plaintext is base64 (binary data).") var base64 = false
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let plaintext = try data ?? {
                guard let input = SecretInput.readStandardInput(allowTerminal: true) else { throw CommandFailure("give the data to encrypt") }
                return input
            }()
            let path = try await target.resolve(client)
            let answer = try await resource(client, "POST", "\(path)/encrypt", body: KeyDataRequest(data: plaintext, encoding: base64 ? "base64" : "utf8"), as: DataResponse.self)
            if json { try answer.printJSON() } else { print(answer.value.data) }
        }
    }

    struct Decrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decrypt hex ciphertext (an argument, else standard input).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget
        @Argument(help: "The ciphertext, hex.") var data: String?
        @Flag(help: "Print the plaintext as base64 (binary data).") var base64 = false
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let ciphertext = try data ?? {
                guard let input = SecretInput.readStandardInput(allowTerminal: true) else { throw CommandFailure("give the ciphertext") }
                return input
            }()
            let path = try await target.resolve(client)
            let answer = try await resource(client, "POST", "\(path)/decrypt", body: KeyDataRequest(data: ciphertext, encoding: base64 ? "base64" : "utf8"), as: DataResponse.self)
            if json { try answer.printJSON() } else { print(answer.value.data) }
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a hex message; prints the signature (and the signer's address).")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget
        @Argument(help: "The message, hex (a 32-byte digest for secp256k1 and BIP39).") var message: String
        @OptionGroup var flags: SigningFlags
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let path = try await target.resolve(client)
            let answer = try await resource(client, "POST", "\(path)/sign", body: SignatureRequest(message: message, options: flags.options), as: SignResponse.self)
            if json { try answer.printJSON(); return }
            print(answer.value.signature)
            if let address = answer.value.address { print("address: \(address)") }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a signature with a stored key; exit 1 when it does not verify.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget
        @Argument(help: "The message, hex.") var message: String
        @Argument(help: "The signature, hex.") var signature: String
        @OptionGroup var flags: SigningFlags

        func run() async throws {
            let client = try server.client()
            let path = try await target.resolve(client)
            let body = SignatureRequest(message: message, signature: signature, options: flags.options)
            try reportVerdict(try await resource(client, "POST", "\(path)/verify", body: body, as: VerifyResponse.self).value)
        }
    }

    struct Derive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "BIP39: the address and public key at a derivation path.")
        @OptionGroup var server: ServerOptions
        @OptionGroup var target: KeyTarget
        @Option(help: "The path (default m/44'/60'/0'/0/0; coin 0 gives a Bitcoin P2PKH address).") var path: String?
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        func run() async throws {
            let client = try server.client()
            let keyPath = try await target.resolve(client)
            let body = SignatureRequest(options: SignatureOptions(algorithm: nil, hdDerivationPath: path))
            let answer = try await resource(client, "POST", "\(keyPath)/derive", body: body, as: DeriveResponse.self)
            if json { try answer.printJSON(); return }
            for (field, value) in [("address", answer.value.address), ("public_key", answer.value.publicKey), ("hd_derivation_path", answer.value.hdDerivationPath)] {
                print("\(field): \(value)")
            }
        }
    }
}

/// `vaultctl verify`: a signature checked against a public key, no stored key needed.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a signature against a public key (detached); exit 1 when it does not verify."
    )
    @OptionGroup var server: ServerOptions
    @Option(help: "The key's spec: Ed25519, P-256, secp256k1 or RSA-….") var spec: String
    @Option(name: .customLong("public-key"), help: "The public key as vaultd shows it (hex; PEM for RSA).") var publicKey: String
    @Argument(help: "The message, hex.") var message: String
    @Argument(help: "The signature, hex.") var signature: String
    @Option(help: "RSA: PS256 … RS512.") var algorithm: String?

    func run() async throws {
        let client = try server.client()
        let body = SignatureRequest(message: message, signature: signature, spec: spec, publicKey: publicKey,
                                    options: SignatureOptions(algorithm: algorithm, hdDerivationPath: nil))
        try reportVerdict(try await resource(client, "POST", "/api/v1/verify", body: body, as: VerifyResponse.self).value)
    }
}

func reportVerdict(_ answer: VerifyResponse) throws {
    guard answer.verified else {
        print("verified: false")
        throw CommandFailure("the signature does not verify", exitCode: 1)
    }
    print("verified: true")
}
