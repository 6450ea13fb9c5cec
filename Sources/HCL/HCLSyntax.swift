/// A number as written: integers stay exact, anything with a fraction or exponent is a double.
public enum HCLNumber: Hashable, Sendable {
    case integer(Int)
    case float(Double)

    public var doubleValue: Double {
        switch self {
        case .integer(let value): Double(value)
        case .float(let value): value
        }
    }
}

/// A literal value with the place it was written.
public struct HCLValue: Sendable {
    public indirect enum Kind: Sendable {
        case string(String)
        case number(HCLNumber)
        case bool(Bool)
        case null
        case list([HCLValue])
        case object([HCLObjectEntry])
    }

    public var kind: Kind
    public var location: SourceLocation
    /// Written as a heredoc (`<<EOF`); the text includes its final newline.
    public var isHeredoc: Bool

    public init(_ kind: Kind, at location: SourceLocation, isHeredoc: Bool = false) {
        self.kind = kind
        self.location = location
        self.isHeredoc = isHeredoc
    }

    /// A short name of the value's type for error messages.
    public var typeName: String {
        switch kind {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a bool"
        case .null: "null"
        case .list: "a list"
        case .object: "an object"
        }
    }
}

/// One `key = value` (or `key: value`) inside an object.
public struct HCLObjectEntry: Sendable {
    public var key: String
    public var keyLocation: SourceLocation
    public var value: HCLValue
}

/// `name = value`.
public struct HCLAttribute: Sendable {
    public var name: String
    public var location: SourceLocation
    public var value: HCLValue
}

/// `type "label" … { body }`.
public struct HCLBlock: Sendable {
    public var type: String
    public var labels: [String]
    public var location: SourceLocation
    public var body: HCLBody
}

/// The attributes and blocks of a file or a block, in the order written.
public struct HCLBody: Sendable {
    public enum Item: Sendable {
        case attribute(HCLAttribute)
        case block(HCLBlock)
    }

    public var items: [Item]
    public var location: SourceLocation

    public init(items: [Item], location: SourceLocation) {
        self.items = items
        self.location = location
    }

    public var attributes: [HCLAttribute] {
        items.compactMap { if case .attribute(let a) = $0 { a } else { nil } }
    }

    public var blocks: [HCLBlock] {
        items.compactMap { if case .block(let b) = $0 { b } else { nil } }
    }
}
