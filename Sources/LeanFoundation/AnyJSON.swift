#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON as loosely typed values — `[String: Any]`, `[Any]`, `String`, `Int`, `Double`, `Bool`
/// and ``AnyJSON/null`` — for API bodies read a field at a time.
///
/// It stands in for Foundation's `JSONSerialization`, which lives in the full Foundation: a
/// process that links that also maps Foundation's and ICU's pages, about 4 MB of resident
/// memory in the agent for a handful of small documents. Parsing and printing are
/// FoundationEssentials' own `JSONDecoder` and `JSONEncoder`.
///
/// Numbers with an integral value that fits in `Int` (`3`, `1e3`) come back as `Int`, the others
/// as `Double`; `true`/`false` only as `Bool` (never from `1`/`0`). JSONDecoder is a little more
/// lenient than JSONSerialization (it reads `01` as 1 and allows a trailing comma).
public enum AnyJSON {
    /// JSON's `null`.
    public struct Null: Sendable, Equatable {}
    public static let null = Null()

    public struct EncodingError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The value `bytes` hold, or `nil` when they are not JSON.
    public static func parse(_ bytes: some Sequence<UInt8>) -> Any? {
        try? JSONDecoder().decode(Decoded.self, from: Data(bytes)).value
    }

    /// The object `bytes` hold, or `nil` when they are not a JSON object.
    public static func object(_ bytes: some Sequence<UInt8>) -> [String: Any]? {
        parse(bytes) as? [String: Any]
    }

    /// `value` as JSON text. Throws for values that are not JSON (a `Date`, a class, …).
    public static func encode(_ value: Any, sortedKeys: Bool = false) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = sortedKeys ? [.sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        return Array(try encoder.encode(Encoded(value)))
    }

    private struct Decoded: Decodable {
        let value: Any

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                value = AnyJSON.null
            } else if let bool = try? container.decode(Bool.self) {
                value = bool
            } else if let int = try? container.decode(Int.self) {
                value = int
            } else if let double = try? container.decode(Double.self) {
                value = double
            } else if let string = try? container.decode(String.self) {
                value = string
            } else if let array = try? container.decode([Decoded].self) {
                value = array.map(\.value)
            } else {
                value = try container.decode([String: Decoded].self).mapValues(\.value)
            }
        }
    }

    private struct Encoded: Encodable {
        let value: Any

        init(_ value: Any) {
            self.value = value
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch value {
            case let value as String: try container.encode(value)
            case let value as Bool: try container.encode(value)
            case let value as Int: try container.encode(value)
            case let value as Int64: try container.encode(value)
            case let value as UInt64: try container.encode(value)
            case let value as Int32: try container.encode(value)
            case let value as UInt32: try container.encode(value)
            case let value as Double: try container.encode(value)
            case is Null: try container.encodeNil()
            case let value as [String: Any]: try container.encode(value.mapValues(Encoded.init))
            case let value as [Any]: try container.encode(value.map(Encoded.init))
            default: throw EncodingError(description: "\(type(of: value)) is not a JSON value")
            }
        }
    }
}
