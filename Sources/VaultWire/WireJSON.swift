import LeanFoundation

/// How the wire types are written and read: keys sorted, slashes unescaped, dates as ISO 8601 —
/// the bytes vaultd has always answered (Tests/IntegrationTests/Golden/vaultd-wire.txt).
public enum WireJSON {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    /// `T` from a response body; nil when the body is not `T` (an empty body, another shape).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        try? decoder.decode(type, from: Data(bytes))
    }

    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
