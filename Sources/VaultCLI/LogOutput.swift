import LeanFoundation
import Logging
import Synchronization

/// A swift-log handler that writes one line per entry to standard error, as text or JSON
/// (`log_format`). Callers never put key material, tokens or request bodies into metadata.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let json: Bool

    private static let lock = Mutex(())

    public init(label: String, level: Logger.Level, json: Bool) {
        self.label = label
        self.logLevel = level
        self.json = json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        // UTC with milliseconds: lines a few milliseconds apart (a restart, an unseal) stay in order.
        let timestamp = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        let line: String
        if json {
            var object: [String: Any] = ["@timestamp": timestamp, "@level": event.level.rawValue, "@module": label, "@message": event.message.description]
            for (key, value) in merged { object[key] = Self.typed(value) }
            let data = (try? AnyJSON.encode(object, sortedKeys: true)) ?? []
            line = String(decoding: data, as: UTF8.self)
        } else {
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(timestamp) [\(event.level.rawValue.uppercased())] \(label): \(event.message)" + (fields.isEmpty ? "" : " " + fields)
        }
        Self.lock.withLock { _ in
            _ = StandardStreams.write(line + "\n", to: 2)
        }
    }

    /// A metadata value as JSON has it: a number or a bool when its text is one (`"ms": 12`,
    /// `"sealed": false`), lists and objects as such, anything else a string. Leading zeros keep a
    /// value a string (`"0042"` is an identifier, not 42).
    static func typed(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .array(let values): return values.map(typed)
        case .dictionary(let entries): return entries.mapValues(typed)
        case .string, .stringConvertible:
            let text = "\(value)"
            if text == "true" { return true }
            if text == "false" { return false }
            let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), digits == "0" || !digits.hasPrefix("0"), let number = Int(text) {
                return number
            }
            return text
        }
    }

    /// Installs this handler for every logger in the process.
    public static func bootstrap(level: String, json: Bool) {
        let parsed: Logger.Level = switch level {
        case "trace": .trace
        case "debug": .debug
        case "warn", "warning": .warning
        case "error": .error
        default: .info
        }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: parsed, json: json) }
    }
}
