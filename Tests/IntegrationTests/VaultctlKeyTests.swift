import Crypto
import Foundation
import SealKit
import TestSupport
import Testing

/// `vaultctl key …` as users and acceptance checks run it: a real process, real output.
@Suite("vaultctl key")
struct VaultctlKeyTests {
    static let vaultctl = TestEnvironment.executable("vaultctl")

    static func run(_ arguments: String..., input: String = "") async throws -> ProcessResult {
        try await TestEnvironment.run(vaultctl, arguments, input: input)
    }

    @Test("generate prints two lines: the phrase and its validation hash")
    func generate() async throws {
        let result = try await Self.run("key", "generate")
        #expect(result.status == 0)
        let lines = result.lines
        try #require(lines.count == 2)
        #expect(lines[0].hasPrefix("phrase: "))
        #expect(lines[1].hasPrefix("validation_hash: 0x"))
        let phrase = String(lines[0].dropFirst("phrase: ".count))
        #expect(phrase.split(separator: " ").count == 24)
        let hash = "0x" + Hex.encode(SHA256.hash(data: Array(phrase.utf8)))
        #expect(lines[1] == "validation_hash: \(hash)")
        #expect(try SealKey(parsing: phrase).validationHash().description == hash)
    }

    @Test("generate --output writes only the phrase, mode 0600, prints only the hash, and never overwrites a file")
    func generateOutput() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keygen-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let path = directory.appendingPathComponent("unseal-key").path
        let result = try await Self.run("key", "generate", "--output", path)
        #expect(result.status == 0, "\(result.stderr)")
        let phrase = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(phrase.split(separator: " ").count == 24)
        #expect(result.stdout == "validation_hash: \(try SealKey(parsing: phrase).validationHash())\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let again = try await Self.run("key", "generate", "--output", path)
        #expect(again.status != 0)
        #expect(again.stderr.contains("refusing to overwrite"), "\(again.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines) == phrase)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["unseal-key"], "no temporary file left")
    }

    @Test("status --wait rejects a value that is not a duration, naming the option")
    func statusWaitValidation() async throws {
        let result = try await Self.run("status", "--wait", "ten")
        #expect(result.status != 0)
        #expect(result.stderr.contains("--wait") && result.stderr.contains("10s"), "\(result.stderr)")
    }

    @Test("generate --json prints {phrase, validation_hash}")
    func generateJSON() async throws {
        let result = try await Self.run("key", "generate", "--json")
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String])
        #expect(Set(object.keys) == ["phrase", "validation_hash"])
        let phrase = try #require(object["phrase"])
        #expect(object["validation_hash"] == "0x" + Hex.encode(SHA256.hash(data: Array(phrase.utf8))))
    }

    @Test("encode, decode and hash agree with each other and with the reference")
    func conversions() async throws {
        let hex = Hex.encode(try SystemRandom.bytes(32))
        let encoded = try await Self.run("key", "encode", hex)
        #expect(encoded.status == 0)
        let phrase = encoded.stdout.trimmingCharacters(in: .newlines)
        #expect(phrase.split(separator: " ").count == 24)

        let decoded = try await Self.run("key", "decode", phrase)
        #expect(decoded.stdout == hex + "\n")

        let hashed = try await Self.run("key", "hash", phrase)
        #expect(hashed.stdout == "0x" + Hex.encode(SHA256.hash(data: Array(phrase.utf8))) + "\n")

        // Upper-case hex and a messy phrase are accepted.
        #expect(try await Self.run("key", "encode", hex.uppercased()).stdout == encoded.stdout)
        let messy = "  " + phrase.uppercased().replacingOccurrences(of: " ", with: "   ") + " "
        #expect(try await Self.run("key", "decode", messy).stdout == hex + "\n")
        // Standard input works too (keeps keys out of `ps`).
        #expect(try await Self.run("key", "decode", input: phrase + "\n").stdout == hex + "\n")

        if TestEnvironment.shouldRunOracleTests("mnemonic") {
            let reference = try await TestEnvironment.runOracle(
                "import sys; from mnemonic import Mnemonic; print(Mnemonic('english').to_mnemonic(bytes.fromhex(sys.stdin.read().strip())))",
                input: hex
            )
            #expect(reference.stdout == encoded.stdout)
        }
    }

    @Test("split and combine round-trip; too few shares do not")
    func shares() async throws {
        let key = try SealKey.generate()
        let phrase = key.phrase()
        let split = try await Self.run("key", "split", "--shares", "5", "--threshold", "3", input: phrase)
        #expect(split.status == 0, "\(split.stderr)")
        let shares = split.lines
        try #require(shares.count == 5)
        #expect(Set(shares).count == 5)
        for share in shares { #expect(Data(base64Encoded: share)?.count == 33) }

        let combined = try await TestEnvironment.run(Self.vaultctl, ["key", "combine", shares[4], shares[0], shares[2]])
        #expect(combined.status == 0)
        #expect(combined.stdout == phrase + "\n")
        let viaStdin = try await Self.run("key", "combine", "--format", "hex", input: shares.prefix(3).joined(separator: "\n"))
        #expect(viaStdin.stdout == key.encoded(as: .hex) + "\n")

        let tooFew = try await TestEnvironment.run(Self.vaultctl, ["key", "combine", shares[0], shares[1]])
        #expect(tooFew.status == 0, "two shares still interpolate; the result is simply not the key")
        #expect(tooFew.stdout != phrase + "\n")
    }

    /// Bad input: exit code 2, one line on stderr, nothing on stdout, and the input not echoed.
    @Test("bad input exits 1 with a one-line error, as Vault's CLI", arguments: [
        ["key", "encode", "abcd"],
        ["key", "encode", String(repeating: "g", count: 64)],
        ["key", "decode", "abandon abandon abandon"],
        ["key", "decode", Array(repeating: "abandon", count: 24).joined(separator: " ")],
        ["key", "decode", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon notaword"],
        ["key", "hash", "definitely not a key"],
        ["key", "split", "--shares", "2", "--threshold", "3", "0000000000000000000000000000000000000000000000000000000000000000"],
        ["key", "split", "--shares", "300", "--threshold", "3", "0000000000000000000000000000000000000000000000000000000000000000"],
        ["key", "combine", "not base64!"],
        ["key", "combine", "AAAA", "AAAA"],
        ["key", "frobnicate"],
        ["key", "generate", "--no-such-flag"],
    ])
    func badInput(arguments: [String]) async throws {
        let result = try await TestEnvironment.run(Self.vaultctl, arguments)
        #expect(result.status == 1, "\(arguments): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        let errorLines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("(see ") }
        #expect(errorLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("vaultctl: error: "))
        if let secret = arguments.last, secret.count > 20 {
            #expect(!result.stderr.contains(secret), "the error echoes the key")
        }
    }

    @Test("help explains the key forms and exit codes")
    func help() async throws {
        let result = try await Self.run("key", "--help")
        #expect(result.status == 0)
        #expect(result.stdout.contains("BIP39"))
        #expect(result.stdout.contains("validation"))
        let top = try await Self.run("--help")
        #expect(top.stdout.contains("1 an error, a refusal or bad input") && top.stdout.contains("2 only for a state"))
    }
}
