import ArgumentParser
import Foundation
import HTTPTransport
import VaultCLI
import VaultClient
import VaultWire

/// Where the vault is and who we are: shared by every command that talks to a server.
struct ServerOptions: ParsableArguments {
    @Option(name: [.long, .customLong("address", withSingleDash: true)], help: ArgumentHelp(
        "The vault: unix:///path, http://host:port or https://host:port.",
        discussion: "Defaults to $VAULT_ADDR, then $BAO_ADDR, then unix:///run/vaultd/vaultd.sock."
    ))
    var address: String?

    @Option(name: [.long, .customLong("token", withSingleDash: true)],
            help: "A token (defaults to $VAULT_TOKEN, $BAO_TOKEN, then ~/.vault-token as 'bao login' writes it). Prefer those: arguments show in 'ps'.")
    var token: String?

    @Option(name: .customLong("ca-cert"), help: "A PEM CA bundle to trust for https (defaults to $VAULT_CACERT).")
    var caCert: String?

    func client() throws -> VaultClient {
        let environment = ProcessInfo.processInfo.environment
        let text = address ?? environment["VAULT_ADDR"] ?? environment["BAO_ADDR"] ?? "unix:///run/vaultd/vaultd.sock"
        let parsed: VaultAddress
        do { parsed = try VaultAddress(text) } catch {
            throw CommandFailure("--address/VAULT_ADDR: \(error)")
        }
        return VaultClient(
            address: parsed,
            token: token ?? Self.nonEmpty(environment["VAULT_TOKEN"]) ?? Self.nonEmpty(environment["BAO_TOKEN"]) ?? Self.tokenFile(environment),
            caBundlePath: caCert ?? environment["VAULT_CACERT"]
        )
    }
}

extension ServerOptions {
    static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }

    /// `~/.vault-token`, which `vault login` and `bao login` write: the token a Vault user
    /// already has. Nil when absent or empty.
    static func tokenFile(_ environment: [String: String]) -> String? {
        guard let home = nonEmpty(environment["HOME"]),
              let text = try? String(contentsOfFile: home + "/.vault-token", encoding: .utf8) else { return nil }
        return nonEmpty(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Runs a client call and turns failures into one-line errors (exit 1; 2 for bad input).
func perform<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as VaultClient.APIError {
        throw CommandFailure("the vault refused: \(error) (HTTP \(error.status))", exitCode: error.status == 400 || error.status == 422 ? 2 : 1)
    } catch let error as HTTPTransportError {
        throw CommandFailure("cannot reach the vault: \(error)", exitCode: 1)
    }
}

/// Prints a JSON value, pretty and with sorted keys.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A resource answer: the bytes vaultd sent (what `--json` prints) and the fields vaultctl
/// reads from them.
struct ResourceAnswer<Value: Decodable> {
    let bytes: [UInt8]
    let value: Value

    /// Prints the answer as vaultd sent it, pretty and with sorted keys.
    func printJSON() throws {
        let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// One call to vaultd's resource API: `body` sent as its wire type, the answer decoded as
/// `Value` (``ResourceSummary`` for records), errors worded by ``perform(_:)``.
func resource<Value: Decodable>(_ client: VaultClient, _ method: String, _ path: String, body: (some Encodable)? = nil as Never?,
                                as type: Value.Type) async throws -> ResourceAnswer<Value> {
    let bytes = try await perform { try await client.answer(method, path, body: body) }
    guard let value = WireJSON.decode(type, from: bytes) else {
        throw CommandFailure("the answer to \(method) \(path) is not what vaultd's API defines", exitCode: 1)
    }
    return ResourceAnswer(bytes: bytes, value: value)
}

/// A resource call whose answer carries nothing to print (a deletion, a revocation).
func resource(_ client: VaultClient, _ method: String, _ path: String, body: (some Encodable)? = nil as Never?) async throws {
    _ = try await perform { try await client.answer(method, path, body: body) }
}

/// Reads a secret from the terminal without echo, or from standard input when it is not a terminal.
func promptSecret(_ prompt: String) throws -> String {
    if isatty(STDIN_FILENO) == 0 {
        guard let input = SecretInput.readStandardInput(), !input.isEmpty else {
            throw CommandFailure("nothing on standard input")
        }
        return input
    }
    FileHandle.standardError.write(Data(prompt.utf8))
    var original = termios()
    tcgetattr(STDIN_FILENO, &original)
    var silent = original
    silent.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw CommandFailure("no key entered")
    }
    return line
}
