import ArgumentParser
import Foundation
import VaultCLI
import VaultClient
import VaultWire

/// `vaultctl operator rekey`: a new seal key (and split) for the vault, with the flags `bao
/// operator rekey` has (-init with -key-shares/-key-threshold/-verify, a key with -nonce,
/// -verify with the new key, -status, -cancel), and vaultd's --seal-key for a key you made.
struct RekeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Replace the vault's seal key, authorised by the current key or its shares.",
        discussion: HelpText.prose("""
            1. vaultctl operator rekey --init --key-shares 3 --key-threshold 2 [--verify]
               (or --seal-key - to rekey to a key you already stored: nothing to lose in transit)
            2. vaultctl operator rekey --nonce N [KEY|-]   (the current key or shares; repeat)
               prints the new key's shares once. With --verify they must come back:
            3. vaultctl operator rekey --verify --nonce VERIFICATION_NONCE [NEW_KEY|-]
            Until the last step the current key stays the vault's. Everything the seal key
            protects is re-encrypted in one transaction. Needs the unix socket (or a TCP listener
            with allow_seal_operations); no token. Exit codes: 0 done, 2 more shares needed or a
            key refused, 1 error. Runbook: docs/operations.md.
            """)
    )

    @OptionGroup var server: ServerOptions
    @Flag(name: [.customLong("init"), .customLong("init", withSingleDash: true)], help: "Start a rekey.") var initialize = false
    @Option(name: [.customLong("key-shares"), .customLong("key-shares", withSingleDash: true)], help: "Shares of the new key (with --init).") var keyShares = 1
    @Option(name: [.customLong("key-threshold"), .customLong("key-threshold", withSingleDash: true)], help: "Shares needed (with --init).") var keyThreshold = 1
    @Option(name: .customLong("seal-key"), help: "With --init: rekey to this key ('-' reads it from standard input); vaultd only.") var sealKey: String?
    @Flag(name: [.long, .customLong("verify", withSingleDash: true)], help: "With --init: the new shares must be given back before the switch; without: give them back.") var verify = false
    @Flag(name: [.long, .customLong("status", withSingleDash: true)], help: "Print the rekey's progress.") var status = false
    @Flag(name: [.long, .customLong("cancel", withSingleDash: true)], help: "Cancel the rekey in progress.") var cancel = false
    @Option(name: [.long, .customLong("nonce", withSingleDash: true)], help: "The rekey's nonce (or the verification nonce with --verify).") var nonce: String?
    @Argument(help: "A key or share; '-' reads it from standard input; omitted: prompted without echo.") var key: String?

    func run() async throws {
        let client = try server.client()
        let path = "/v1/sys/rekey"
        if cancel {
            _ = try await perform { try await client.exchange("DELETE", path + "/init") }
            print("Rekey cancelled (if one was in progress); the current key stays.")
            return
        }
        if status {
            Self.show(try await perform { try await client.call("GET", path + "/init", as: RekeyResponse.self) })
            return
        }
        if initialize {
            var body = RekeyInitRequest(secretShares: keyShares, secretThreshold: keyThreshold, requireVerification: verify)
            if let sealKey { body.sealKey = sealKey == "-" ? try promptSecret("New seal key: ") : sealKey }
            let request = body
            Self.show(try await perform { try await client.call("PUT", path + "/init", body: request, as: RekeyResponse.self) })
            return
        }
        guard let nonce else { throw CommandFailure("give --nonce (from --init or --status) with a key, or one of --init, --status, --cancel", exitCode: 2) }
        let request = NonceKeyRequest(key: try readKey(key), nonce: nonce)
        let answer = try await perform { try await client.call("PUT", path + (verify ? "/verify" : "/update"), body: request, as: RekeyResponse.self) }
        Self.show(answer)
        if !answer.complete { throw ExitCode(2) }
        if answer.keysBase64 != nil {
            FileHandle.standardError.write(Data((answer.verificationRequired
                ? "Give these back with --verify --nonce \(answer.verificationNonce) before the vault switches to them.\n"
                : "The vault now unseals only with these. Store them before anything else.\n").utf8))
        }
    }

    static func show(_ status: RekeyResponse) {
        var lines = ["Nonce            \(status.nonce)", "Started          \(status.started)", "Progress         \(status.progress)/\(status.required)",
                     "New Shares       \(status.n)", "New Threshold    \(status.t)", "Complete         \(status.complete)"]
        for (index, key) in (status.keysBase64 ?? []).enumerated() { lines.append("Key \(index + 1)            \(key)") }
        for (index, key) in (status.recoveryKeysBase64 ?? []).enumerated() { lines.append("Recovery Key \(index + 1)   \(key)") }
        if let hash = status.validationHash { lines.append("Validation Hash  \(hash)") }
        if status.verificationRequired { lines.append("Verification Nonce  \(status.verificationNonce)") }
        print(lines.joined(separator: "\n"))
    }
}

/// A key or share from the argument, standard input (`-`) or a prompt without echo.
func readKey(_ argument: String?) throws -> String {
    let text = try argument == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        : argument ?? promptSecret("Unseal key (will be hidden): ")
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}
