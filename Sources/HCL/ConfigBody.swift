import ErrorKit
import LeanFoundation

/// Typed access to a configuration body, with errors that name the file, line, column and the
/// setting, whichever form (HCL or JSON) the file was written in.
///
/// ```swift
/// let root = try HCLDocument(contentsOf: path).root
/// try root.checkKeys(["storage", "listener", "seal_validation_hash"])
/// for listener in try root.blocks("listener", labels: 1) {
///     let address = try listener.body.requiredString("address")
/// }
/// ```
public struct ConfigBody: Sendable {
    /// An attribute, or a native HCL block.
    public enum Entry: Sendable {
        case attribute(HCLAttribute)
        case block(HCLBlock)

        init(_ item: HCLBody.Item) {
            switch item {
            case .attribute(let attribute): self = .attribute(attribute)
            case .block(let block): self = .block(block)
            }
        }

        var name: String {
            switch self {
            case .attribute(let a): a.name
            case .block(let b): b.type
            }
        }

        var location: SourceLocation {
            switch self {
            case .attribute(let a): a.location
            case .block(let b): b.location
            }
        }
    }

    let items: [Entry]
    /// Where the body starts.
    public let location: SourceLocation
    /// How errors introduce this body, e.g. `listener "unix"`; empty at the top level.
    public let context: String

    init(items: [Entry], location: SourceLocation, context: String) {
        self.items = items
        self.location = location
        self.context = context
    }

    /// A labelled block read from either form.
    public struct Block: Sendable {
        public let type: String
        public let labels: [String]
        public let location: SourceLocation
        public let body: ConfigBody
    }

    // MARK: - Keys

    /// The names present, in order.
    public var keys: [String] { items.map(\.name) }

    /// Whether `name` is present as an attribute or block.
    public func contains(_ name: String) -> Bool { items.contains { $0.name == name } }

    /// Fails on the first key not in `allowed`, suggesting the nearest allowed name.
    public func checkKeys(_ allowed: [String]) throws(HCLError) {
        for item in items where !allowed.contains(item.name) {
            var message = "\(prefix)unknown setting '\(item.name)'"
            if let suggestion = Self.nearest(item.name, in: allowed) {
                message += " (did you mean '\(suggestion)'?)"
            } else if !allowed.isEmpty {
                message += "; expected one of: \(allowed.joined(separator: ", "))"
            }
            throw HCLError(.unknownKey, at: item.location, message)
        }
    }

    // MARK: - Attributes

    /// The value of attribute `name`, or `nil` when absent.
    public func value(_ name: String) throws(HCLError) -> HCLValue? {
        for item in items where item.name == name {
            switch item {
            case .attribute(let attribute): return attribute.value
            case .block(let block):
                throw HCLError(.type, at: block.location, "\(prefix)\(name): expected a value ('\(name) = …'), found a block")
            }
        }
        return nil
    }

    public func string(_ name: String) throws(HCLError) -> String? {
        guard let value = try value(name) else { return nil }
        guard case .string(let text) = value.kind else { throw typeError(name, "a string", value) }
        return text
    }

    public func requiredString(_ name: String) throws(HCLError) -> String {
        guard let text = try string(name) else { throw missing(name, "a string") }
        return text
    }

    /// An integer; a quoted integer (`"8200"`) is accepted too, as Vault's HCL does.
    public func int(_ name: String) throws(HCLError) -> Int? {
        guard let value = try value(name) else { return nil }
        return try Self.int(from: value, name: name, prefix: prefix)
    }

    /// A bool; `"true"`/`"false"` and `1`/`0` (as numbers or strings) are accepted too, as Vault's
    /// configuration takes them (`tls_disable = 1`).
    public func bool(_ name: String) throws(HCLError) -> Bool? {
        guard let value = try value(name) else { return nil }
        switch value.kind {
        case .bool(let flag): return flag
        case .number(.integer(let number)) where number == 0 || number == 1: return number == 1
        case .string(let text):
            switch text.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw typeError(name, "true or false", value)
            }
        default: throw typeError(name, "true or false", value)
        }
    }

    public func double(_ name: String) throws(HCLError) -> Double? {
        guard let value = try value(name) else { return nil }
        switch value.kind {
        case .number(let number): return number.doubleValue
        case .string(let text):
            if let number = Double(text) { return number }
            throw typeError(name, "a number", value)
        default: throw typeError(name, "a number", value)
        }
    }

    public func stringList(_ name: String) throws(HCLError) -> [String]? {
        guard let value = try value(name) else { return nil }
        guard case .list(let elements) = value.kind else { throw typeError(name, "a list of strings", value) }
        var out = [String]()
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element.kind else {
                throw HCLError(.type, at: element.location, "\(prefix)\(name)[\(index)]: expected a string, found \(element.typeName)")
            }
            out.append(text)
        }
        return out
    }

    public func intList(_ name: String) throws(HCLError) -> [Int]? {
        guard let value = try value(name) else { return nil }
        guard case .list(let elements) = value.kind else { throw typeError(name, "a list of integers", value) }
        var out = [Int]()
        for (index, element) in elements.enumerated() {
            out.append(try Self.int(from: element, name: "\(name)[\(index)]", prefix: prefix))
        }
        return out
    }

    /// An object of string values, in the order written.
    public func stringMap(_ name: String) throws(HCLError) -> [(key: String, value: String)]? {
        guard let value = try value(name) else { return nil }
        guard case .object(let entries) = value.kind else { throw typeError(name, "an object of strings", value) }
        var out = [(key: String, value: String)]()
        for entry in entries {
            guard case .string(let text) = entry.value.kind else {
                throw HCLError(.type, at: entry.value.location, "\(prefix)\(name).\(entry.key): expected a string, found \(entry.value.typeName)")
            }
            out.append((entry.key, text))
        }
        return out
    }

    // MARK: - Blocks

    /// Every `type` block with exactly `labels` labels, in order.
    ///
    /// Native HCL blocks (`seal "awskms" { … }`) and the JSON form (`"seal": {"awskms": {…}}`,
    /// or a list of such objects) are read alike.
    public func blocks(_ type: String, labels: Int) throws(HCLError) -> [Block] {
        try blocks(type, labels: labels...labels)
    }

    /// Every `type` block with a number of labels in `labels` (`audit "file" { … }` and
    /// `audit "file" "path" { … }`). In the JSON form, where nesting alone cannot tell a label
    /// from a setting, the most labels are read.
    public func blocks(_ type: String, labels range: ClosedRange<Int>) throws(HCLError) -> [Block] {
        let labels = range.upperBound
        var out = [Block]()
        for item in items where item.name == type {
            switch item {
            case .block(let block):
                guard range.contains(block.labels.count) else {
                    throw HCLError(
                        .syntax, at: block.location,
                        "\(prefix)a '\(type)' block takes \(range.count > 1 ? "\(range.lowerBound) to \(range.upperBound) labels" : Self.labelPhrase(labels)), found \(block.labels.count)\(labels > 0 ? " (e.g. \(type) \"name\" { … })" : "")"
                    )
                }
                let context = ([type] + block.labels.map { "\"\($0)\"" }).joined(separator: " ")
                let body = ConfigBody(
                    items: block.body.items.map(Entry.init), location: block.location,
                    context: self.context.isEmpty ? context : "\(self.context) › \(context)"
                )
                out.append(Block(type: type, labels: block.labels, location: block.location, body: body))
            case .attribute(let attribute):
                try collect(attribute.value, type: type, remaining: labels, labels: [], into: &out)
            }
        }
        return out
    }

    /// The single unlabelled `type` block, or `nil`; more than one is an error.
    public func block(_ type: String) throws(HCLError) -> ConfigBody? {
        let found = try blocks(type, labels: 0)
        if found.count > 1 {
            throw HCLError(.duplicate, at: found[1].location, "\(prefix)only one '\(type)' block is allowed (the first is at \(found[0].location.line):\(found[0].location.column))")
        }
        return found.first?.body
    }

    private func collect(_ value: HCLValue, type: String, remaining: Int, labels: [String], into out: inout [Block]) throws(HCLError) {
        switch value.kind {
        case .list(let elements):
            for element in elements {
                try collect(element, type: type, remaining: remaining, labels: labels, into: &out)
            }
        case .object(let entries) where remaining == 0:
            let items = entries.map {
                Entry.attribute(HCLAttribute(name: $0.key, location: $0.keyLocation, value: $0.value))
            }
            let context = ([type] + labels.map { "\"\($0)\"" }).joined(separator: " ")
            let body = ConfigBody(
                items: items, location: value.location,
                context: self.context.isEmpty ? context : "\(self.context) › \(context)"
            )
            out.append(Block(type: type, labels: labels, location: value.location, body: body))
        case .object(let entries):
            for entry in entries {
                try collect(entry.value, type: type, remaining: remaining - 1, labels: labels + [entry.key], into: &out)
            }
        default:
            throw HCLError(
                .type, at: value.location,
                "\(prefix)\(type): expected a block (an object\(remaining > 0 ? " keyed by \(Self.labelPhrase(remaining))" : "")), found \(value.typeName)"
            )
        }
    }

    // MARK: - Errors

    /// `listener "unix": ` or empty at the top level.
    var prefix: String { context.isEmpty ? "" : "\(context): " }

    /// An error about setting `name` at `location`, phrased like the decoder's own.
    public func error(_ name: String, _ message: String, code: HCLError.Code = .invalidValue, at location: SourceLocation? = nil) -> HCLError {
        let place = location ?? items.first(where: { $0.name == name })?.location ?? self.location
        return HCLError(code, at: place, "\(prefix)\(name): \(message)")
    }

    private func typeError(_ name: String, _ expected: String, _ value: HCLValue) -> HCLError {
        HCLError(.type, at: value.location, "\(prefix)\(name): expected \(expected), found \(value.typeName)")
    }

    private func missing(_ name: String, _ expected: String) -> HCLError {
        HCLError(.missing, at: location, "\(prefix)the setting '\(name)' (\(expected)) is required")
    }

    private static func int(from value: HCLValue, name: String, prefix: String) throws(HCLError) -> Int {
        switch value.kind {
        case .number(.integer(let number)): return number
        case .number(.float(let number)) where number.rounded() == number && abs(number) < 9e15: return Int(number)
        case .string(let text):
            if let number = Int(text) { return number }
            fallthrough
        default:
            throw HCLError(.type, at: value.location, "\(prefix)\(name): expected an integer, found \(value.typeName)")
        }
    }

    private static func labelPhrase(_ count: Int) -> String {
        switch count {
        case 0: "no labels"
        case 1: "one label"
        default: "\(count) labels"
        }
    }

    /// The allowed name within edit distance 2 of `name`, if any.
    static func nearest(_ name: String, in allowed: [String]) -> String? {
        NearestName.find(name, in: allowed)
    }
}
