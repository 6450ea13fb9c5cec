import ArgumentParser
import Foundation
import VaultCLI
import VaultClient
import VaultWire

/// `vaultctl operator generate-root`: a new root token from the seal key or shares, with the
/// flags `bao operator generate-root` has (-init, a key with -nonce, -decode with -otp,
/// -status, -cancel).
struct GenerateRootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-root",
        abstract: "Make a new root token with the seal key or a threshold of shares.",
        discussion: HelpText.prose("""
            1. vaultctl operator generate-root --init: prints the nonce and a one-time password.
            2. vaultctl operator generate-root --nonce N: prompts for the key or a share; repeat
               until complete, which prints the encoded token.
            3. vaultctl operator generate-root --decode ENCODED --otp OTP: prints the root token.

            The way back to administration for a vault initialised with root_token = "discard".
            Earlier root tokens stay valid until revoked. Needs the vault's unix socket (or a TCP
            listener with allow_seal_operations); no token. Exit codes: 0 done (or the step
            succeeded), 2 more shares needed or the key/input refused, 1 error.
            Runbook: docs/operations.md.
            """)
    )

    @OptionGroup var server: ServerOptions
    @Flag(name: [.customLong("init"), .customLong("init", withSingleDash: true)], help: "Start an attempt.") var initialize = false
    @Flag(name: [.long, .customLong("status", withSingleDash: true)], help: "Print the attempt's progress.") var status = false
    @Flag(name: [.long, .customLong("cancel", withSingleDash: true)], help: "Cancel the attempt in progress.") var cancel = false
    @Option(name: [.long, .customLong("decode", withSingleDash: true)], help: "Decode this encoded token with --otp.") var decode: String?
    @Option(name: [.long, .customLong("otp", withSingleDash: true)], help: "The one-time password (with --init: your own, of the vault's otp_length).") var otp: String?
    @Option(name: [.long, .customLong("nonce", withSingleDash: true)], help: "The attempt's nonce (printed by --init and --status).") var nonce: String?
    @Argument(help: "The key or a share; '-' reads it from standard input; omitted: prompted without echo.") var key: String?

    func run() async throws {
        let client = try server.client()
        if let decode {
            guard let otp else { throw CommandFailure("--decode needs --otp, the one-time password --init printed", exitCode: 2) }
            print(try Self.decode(decode, otp: otp))
            return
        }
        if cancel {
            _ = try await perform { try await client.exchange("DELETE", "/v1/sys/generate-root/attempt") }
            print("Root token generation cancelled (if one was in progress).")
            return
        }
        let path = "/v1/sys/generate-root"
        if initialize {
            let answer = try await perform {
                try await client.call("PUT", path + "/attempt", body: GenerateRootAttemptRequest(otp: otp), as: GenerateRootStatusResponse.self)
            }
            Self.show(answer)
            if !answer.otp.isEmpty { FileHandle.standardError.write(Data("Keep the OTP: it decodes the new root token.\n".utf8)) }
            return
        }
        if status {
            Self.show(try await perform { try await client.call("GET", path + "/attempt", as: GenerateRootStatusResponse.self) })
            return
        }
        guard let nonce else { throw CommandFailure("give --nonce (from --init or --status) with the key, or one of --init, --status, --cancel, --decode", exitCode: 2) }
        let request = NonceKeyRequest(key: try readKey(key), nonce: nonce)
        let answer = try await perform { try await client.call("PUT", path + "/update", body: request, as: GenerateRootStatusResponse.self) }
        Self.show(answer)
        if !answer.complete { throw ExitCode(2) }
    }

    /// The encoded token XORed with the OTP (both as Vault makes them: base64 without padding,
    /// and text of the same length).
    static func decode(_ encoded: String, otp: String) throws -> String {
        let padded = encoded + String(repeating: "=", count: (4 - encoded.count % 4) % 4)
        guard let bytes = Data(base64Encoded: padded), bytes.count == otp.utf8.count else {
            throw CommandFailure("the encoded token and the OTP do not fit together (base64 of the OTP's length expected)", exitCode: 2)
        }
        return String(decoding: zip(bytes, otp.utf8).map { $0 ^ $1 }, as: UTF8.self)
    }

    static func show(_ status: GenerateRootStatusResponse) {
        var lines = ["Nonce          \(status.nonce)", "Started        \(status.started)", "Progress       \(status.progress)/\(status.required)", "Complete       \(status.complete)"]
        if !status.encodedToken.isEmpty { lines.append("Encoded Token  \(status.encodedToken)") }
        if !status.otp.isEmpty { lines.append("OTP            \(status.otp)") }
        lines.append("OTP Length     \(status.otpLength)")
        print(lines.joined(separator: "\n"))
    }
}
