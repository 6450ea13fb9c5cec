import ErrorKit
import Foundation

/// What can go wrong with an audit device: a setting it cannot take, or a file it cannot open or
/// write. Messages name the option or the file, never a logged value.
public enum AuditErrors: ErrorDomain {
    public enum Code: String, Hashable, Sendable, CustomStringConvertible {
        /// An option the `file` device does not take, or a value it cannot use.
        case invalidOption
        /// The file could not be opened (or its mode set).
        case cannotOpen
        /// A line could not be written or flushed to disk (a full disk, an I/O error).
        case cannotWrite
        public var description: String { rawValue }
    }
}

public typealias AuditError = DomainError<AuditErrors>

/// The options of a `file` audit device, as Vault names them, checked. Options are strings, as
/// in Vault's API (`bao audit enable file file_path=… fsync=false`) and its `options { }` block.
public struct FileAuditOptions: Sendable, Equatable {
    public enum Destination: Sendable, Equatable, CustomStringConvertible {
        case file(String)
        /// `file_path = "stdout"`: vaultd's standard output (a container's log).
        case stdout
        /// `file_path = "discard"`: written nowhere (a device that never fails, for testing).
        case discard

        public var description: String {
            switch self {
            case .file(let path): path
            case .stdout: "stdout"
            case .discard: "discard"
            }
        }
    }

    public var destination: Destination
    /// The file's permissions; nil (`mode = "0000"`) leaves them as they are.
    public var mode: mode_t?
    /// Whether each line reaches the disk (fsync) before the request goes on or its answer is
    /// sent. On by default: an audit line a crash can lose is a request that left no trace.
    public var fsync: Bool
    /// Written before each line (Vault's `prefix`).
    public var prefix: String
    /// Whether token accessors are logged as HMACs (Vault's `hmac_accessor`, default true).
    public var hmacAccessor: Bool

    public static let knownOptions = ["file_path", "mode", "fsync", "prefix", "format", "hmac_accessor", "log_raw"]

    public init(_ options: [String: String]) throws(AuditError) {
        if let unknown = options.keys.sorted().first(where: { !Self.knownOptions.contains($0) }) {
            throw AuditError(.invalidOption, "audit device option '\(unknown)' is not supported by the file device; it takes \(Self.knownOptions.joined(separator: ", "))")
        }
        guard let path = options["file_path"], !path.isEmpty else {
            throw AuditError(.invalidOption, "the file audit device needs file_path: an absolute path, \"stdout\" or \"discard\"")
        }
        switch path {
        case "stdout": destination = .stdout
        case "discard": destination = .discard
        default:
            guard path.hasPrefix("/") else {
                throw AuditError(.invalidOption, "file_path must be an absolute path (or \"stdout\", \"discard\"); got \"\(path)\"")
            }
            destination = .file(path)
        }
        let modeText = options["mode"] ?? "0600"
        guard let mode = mode_t(modeText, radix: 8), mode <= 0o777 else {
            throw AuditError(.invalidOption, "mode: expected an octal mode such as \"0600\"; got \"\(modeText)\"")
        }
        self.mode = mode == 0 ? nil : mode
        fsync = try Self.flag(options, "fsync", default: true)
        prefix = options["prefix"] ?? ""
        hmacAccessor = try Self.flag(options, "hmac_accessor", default: true)
        if let format = options["format"], format != "json" {
            throw AuditError(.invalidOption, "format: only \"json\" is supported; got \"\(format)\"")
        }
        if try Self.flag(options, "log_raw", default: false) {
            throw AuditError(.invalidOption, "log_raw = true is refused: vaultd's audit log never holds tokens or secret values in the clear (compare a value with sys/audit-hash instead)")
        }
    }

    private static func flag(_ options: [String: String], _ name: String, default value: Bool) throws(AuditError) -> Bool {
        guard let text = options[name] else { return value }
        switch text.lowercased() {
        case "true", "1", "t": return true
        case "false", "0", "f": return false
        default: throw AuditError(.invalidOption, "\(name): expected \"true\" or \"false\"; got \"\(text)\"")
        }
    }
}
