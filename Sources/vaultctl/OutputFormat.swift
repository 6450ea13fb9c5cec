import ArgumentParser
import Foundation

/// How a command prints: `--json`, or Vault's `-format=json` (also `--format`), or
/// `$VAULT_FORMAT` — so scripts written for `vault`/`bao` carry over. `table` is the default.
struct OutputFormat: ParsableArguments {
    @Flag(name: .customLong("json"), help: "Print JSON (the same as -format=json).")
    var jsonFlag = false

    @Option(name: [.customLong("format"), .customLong("format", withSingleDash: true)],
            help: ArgumentHelp("table or json, as Vault's CLI takes it (default: $VAULT_FORMAT, else table).", valueName: "format"))
    var format: String?

    static let formats = ["table", "json"]

    func validate() throws {
        if let format, !Self.formats.contains(format.lowercased()) {
            throw ValidationError("-format: expected table or json; got '\(format)'")
        }
        if format == nil, let fromEnvironment = ProcessInfo.processInfo.environment["VAULT_FORMAT"], !fromEnvironment.isEmpty,
           !Self.formats.contains(fromEnvironment.lowercased()) {
            throw ValidationError("VAULT_FORMAT: expected table or json; got '\(fromEnvironment)'")
        }
    }

    /// Whether to print JSON: `--json`, else `-format`, else `$VAULT_FORMAT`.
    var json: Bool {
        if jsonFlag { return true }
        let chosen = format ?? ProcessInfo.processInfo.environment["VAULT_FORMAT"] ?? "table"
        return chosen.lowercased() == "json"
    }
}
