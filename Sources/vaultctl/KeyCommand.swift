import ArgumentParser
import DurableFile
import Foundation
import SealKit
import VaultCLI

/// `vaultctl key …`: create, convert, fingerprint and split seal keys, offline.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Generate, convert, hash, split and combine seal keys (offline).",
        discussion: HelpText.prose("""
            A seal key is 32 random bytes. Its human form is a 24-word BIP39 English phrase;
            base64 (padded) and hex (64 digits) are accepted wherever a key is read. The
            validation hash is "0x" + hex(SHA-256(phrase)), the phrase being the 24 words
            joined by single spaces.
            """),
        subcommands: [Generate.self, Encode.self, Decode.self, Hash.self, Split.self, Combine.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new seal key phrase and its validation hash.",
            discussion: HelpText.prose("""
                Output: two lines, 'phrase: …' and 'validation_hash: 0x…'; with --json, {"phrase","validation_hash"}.
                With --output FILE the phrase goes only into FILE (created with mode 0600, never \
                overwriting an existing file, synced to disk) and only the validation hash is printed.
                """)
        )

        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }

        @Option(name: .shortAndLong, help: ArgumentHelp("Write the phrase to this new file (mode 0600) instead of printing it.", valueName: "file"))
        var output: String?

        func run() throws {
            let key = try SealKey.generate()
            let phrase = key.phrase()
            let hash = key.validationHash().description
            if let output {
                do {
                    try AtomicFile.write(Array((phrase + "\n").utf8), to: output, mode: 0o600, replacing: false)
                } catch {
                    throw CommandFailure("--output: \(error)")
                }
                print(json ? try JSONOutput.object(["validation_hash": hash]) : "validation_hash: \(hash)")
            } else if json {
                print(try JSONOutput.object(["phrase": phrase, "validation_hash": hash]))
            } else {
                print("phrase: \(phrase)")
                print("validation_hash: \(hash)")
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the 24-word phrase of a key given as 64 hex digits (or base64)."
        )

        @Argument(help: "The key: 64 hex digits (base64 is accepted too). Read from stdin when omitted.")
        var key: String?

        func run() throws {
            let text = try KeyInput.read(key, what: "a key in hex")
            guard SealKey.detectEncoding(text) != .phrase else {
                throw CommandFailure("'key encode' takes hex or base64; to check a phrase use 'key decode'")
            }
            print(try SealKey(parsing: text).phrase())
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the 64 hex digits of a key given as a 24-word phrase (or base64)."
        )

        @Argument(help: "The 24-word phrase, quoted. Read from stdin when omitted.")
        var phrase: String?

        @Option(help: "Output form: hex, base64 or phrase.")
        var format: SealKey.Encoding = .hex

        func run() throws {
            let text = try KeyInput.read(phrase, what: "a phrase")
            print(try SealKey(parsing: text).encoded(as: format))
        }
    }

    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the validation hash of a key (phrase, base64 or hex)."
        )

        @Argument(help: "The key. Read from stdin when omitted.")
        var key: String?

        func run() throws {
            let text = try KeyInput.read(key, what: "a key")
            print(try SealKey(parsing: text).validationHash())
        }
    }

    struct Split: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Split a key into Shamir shares, one base64 share per line.",
            discussion: HelpText.prose("""
                The key (phrase, base64 or hex) is read from standard input, or given as an argument.
                Any THRESHOLD of the SHARES shares recover it with 'vaultctl key combine'. Shares use
                Vault's layout: the y bytes followed by the x coordinate.
                """)
        )

        @Option(help: "How many shares to make (1…255).")
        var shares: Int

        @Option(help: "How many shares recover the key (1…shares).")
        var threshold: Int

        @Argument(help: "The key. Read from stdin when omitted (preferred: keeps it out of 'ps').")
        var key: String?

        func run() throws {
            let text = try KeyInput.read(key, what: "the key to split")
            let sealKey = try SealKey(parsing: text)
            let parts = try sealKey.withUnsafeBytes { (raw) throws(SealKitError) -> [[UInt8]] in
                try Shamir.split(raw, shares: shares, threshold: threshold)
            }
            for share in parts {
                print(Data(share).base64EncodedString())
            }
        }
    }

    struct Combine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recover a key from base64 Shamir shares and print its phrase.",
            discussion: "Shares come as arguments, or one per line on standard input."
        )

        @Argument(help: "The base64 shares.")
        var shares: [String] = []

        @Option(help: "Output form: phrase, hex or base64.")
        var format: SealKey.Encoding = .phrase

        func run() throws {
            var texts = shares
            if texts.isEmpty, let input = SecretInput.readStandardInput() {
                texts = input.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            }
            guard !texts.isEmpty else { throw CommandFailure("give at least one share") }
            var decoded = [[UInt8]]()
            for (index, text) in texts.enumerated() {
                guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)) else {
                    throw CommandFailure("share \(index + 1) is not valid base64")
                }
                decoded.append(Array(data))
            }
            defer { for index in decoded.indices { decoded[index].wipe() } }
            let secret = try Shamir.combine(decoded)
            guard secret.count == SealKey.byteCount else {
                throw CommandFailure("the shares hold \(secret.count) bytes, not a \(SealKey.byteCount)-byte seal key")
            }
            print(try SealKey(bytes: secret).encoded(as: format))
        }
    }
}

extension SealKey.Encoding: ExpressibleByArgument {}

/// Where a command's key comes from: its argument, else standard input.
enum KeyInput {
    static func read(_ argument: String?, what: String) throws -> String {
        if let argument { return argument }
        if let input = SecretInput.readStandardInput(), !input.isEmpty { return input }
        throw CommandFailure("give \(what) as an argument or on standard input")
    }
}

/// Compact JSON with sorted keys.
enum JSONOutput {
    static func object(_ fields: [String: String]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
