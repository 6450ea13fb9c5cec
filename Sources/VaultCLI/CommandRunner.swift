import ArgumentParser
import LeanFoundation
import SealKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure a command reports as one line on standard error, with an exit code.
///
/// Exit code 2 means bad input (a malformed key, share or argument): the same code the
/// acceptance checks and shell scripts rely on.
public struct CommandFailure: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = CommandRunner.badInputExitCode) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }
}

/// Runs a root command the same way in every executable: parse, run, and turn every error into
/// one line on standard error and a meaningful exit code.
public enum CommandRunner {
    /// Bad input: a malformed argument, key, share or file.
    public static let badInputExitCode: Int32 = 2

    /// Parses `CommandLine.arguments` for `Root`, runs the chosen command, and exits.
    ///
    /// - Parameter badInput: the exit code for usage errors and bad input. The daemons keep 2;
    ///   vaultctl passes 1, as Vault's CLI exits, keeping 2 for a state (sealed, more shares
    ///   needed) that a command reports with `ExitCode(2)`.
    public static func main<Root: ParsableCommand>(_ root: Root.Type, badInput: Int32 = badInputExitCode) async -> Never {
        let name = root.configuration.commandName ?? "command"
        do {
            var command = try root.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let failure as CommandFailure {
            printError("\(name): error: \(failure.message)")
            exit(failure.exitCode == badInputExitCode ? badInput : failure.exitCode)
        } catch let error as SealKitError {
            printError("\(name): error: \(error.reason)")
            exit(badInput)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            if root.exitCode(for: error) == .success {
                root.exit(withError: error)  // --help, --version: print and exit 0
            }
            let message = root.message(for: error)
            var line = message.split(separator: "\n").first.map(String.init) ?? message
            if let (word, suggestion) = suggestion(root, Array(CommandLine.arguments.dropFirst())) {
                line = "unknown command '\(word)' (did you mean '\(suggestion)'?)"
            }
            printError("\(name): error: \(line)")
            printError("(see '\(name) --help')")
            exit(badInput)
        }
    }

    /// For `vaultctl stauts`: the subcommand nearest to the first word that names none, at the
    /// level where it was given (`vaultctl secrets lsit` → `list`).
    static func suggestion(_ root: any ParsableCommand.Type, _ arguments: [String]) -> (word: String, suggestion: String)? {
        var command = root
        for argument in arguments where !argument.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            if let next = subcommands.first(where: { $0._commandName == argument || $0.configuration.aliases.contains(argument) }) {
                command = next
                continue
            }
            return NearestName.find(argument, in: subcommands.map { $0._commandName }).map { (argument, $0) }
        }
        return nil
    }

    /// Writes one line to standard error.
    public static func printError(_ line: String) {
        var text = line
        text.append("\n")
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { break }
            offset += written
        }
    }
}

/// The version every executable reports.
public enum BuildInfo {
    public static let version = "0.1.0-dev"
}
