/// JSON objects whose values are all strings (or absent): the shape of the records on a
/// secret's read path, written and read without `JSONEncoder`/`JSONDecoder`.
///
/// Why: Foundation's coders are generic all the way down (boxing every value, looking up
/// generic metadata, casting dynamically); on a secret read they were a fifth of the cost
/// (docs/BENCHMARKS.md). The output here is byte for byte what `JSONEncoder` writes with
/// `.sortedKeys` and `.iso8601` dates (with or without `.withoutEscapingSlashes`), which
/// `FlatJSONTests` checks against `JSONEncoder` itself. Anything the reader does not expect
/// (a number, a nested value, a duplicate key, bad UTF-8) makes it return nil, and the caller
/// falls back to `JSONDecoder`.
public struct FlatJSONWriter {
    private var fields: [(key: String, value: String)] = []

    public init() {}

    /// A string field; nil omits it, as synthesized `Encodable` does for an optional.
    public mutating func add(_ key: String, _ value: String?) {
        if let value { fields.append((key, value)) }
    }

    /// A date as `.iso8601` writes it: `2026-12-01T10:24:33Z` (whole seconds, UTC).
    public mutating func add(_ key: String, _ date: Date) {
        fields.append((key, FlatJSON.iso8601(date)))
    }

    /// The object, keys in order (`.sortedKeys`). Keys are ASCII names, so `<` is byte order.
    public func bytes(escapingSlashes: Bool) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(fields.reduce(2) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        out.append(UInt8(ascii: "{"))
        for (index, field) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            FlatJSON.appendString(field.key, to: &out, escapingSlashes: escapingSlashes)
            out.append(UInt8(ascii: ":"))
            FlatJSON.appendString(field.value, to: &out, escapingSlashes: escapingSlashes)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// The fields of a flat object, in their order. A record has a handful: looking one up by
/// scanning costs less than hashing every key into a dictionary.
public struct FlatJSONFields: Sendable, Equatable {
    public private(set) var pairs: [(key: String, value: String)] = []

    public subscript(key: String) -> String? {
        pairs.first { $0.key == key }?.value
    }

    public var dictionary: [String: String] {
        Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// Adds a field; false when the key is already there.
    mutating func add(_ key: String, _ value: String) -> Bool {
        guard self[key] == nil else { return false }
        pairs.append((key, value))
        return true
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.dictionary == rhs.dictionary }
}

public enum FlatJSON {
    /// The fields of `{"key":"value",…}`, or nil for anything else (see ``FlatJSONWriter``).
    public static func parseObject(_ bytes: [UInt8]) -> FlatJSONFields? {
        var reader = Reader(bytes: bytes)
        return reader.object()
    }

    /// `2026-12-01T10:24:33Z`, the seconds rounded down as `JSONEncoder`'s `.iso8601` does.
    public static func iso8601(_ date: Date) -> String {
        let c = UTCTime.components(of: date)
        var out = [UInt8]()
        out.reserveCapacity(20)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(c.year, 4); out.append(UInt8(ascii: "-")); digits(c.month, 2); out.append(UInt8(ascii: "-")); digits(c.day, 2)
        out.append(UInt8(ascii: "T"))
        digits(c.hour, 2); out.append(UInt8(ascii: ":")); digits(c.minute, 2); out.append(UInt8(ascii: ":")); digits(c.second, 2)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Exactly `YYYY-MM-DDTHH:MM:SSZ` (what ``iso8601(_:)`` writes), or nil: other forms go to
    /// `JSONDecoder`.
    public static func parseISO8601(_ text: String) -> Date? {
        guard text.utf8.count == 20, text.utf8.last == UInt8(ascii: "Z") else { return nil }
        return UTCTime.parseISO8601(text)
    }

    static func appendString(_ text: String, to out: inout [UInt8], escapingSlashes: Bool) {
        out.append(UInt8(ascii: "\""))
        var text = text
        // Most strings need no escape at all: copied in one go.
        let plain = text.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || (escapingSlashes && $0 == UInt8(ascii: "/")) }) else { return false }
            out.append(contentsOf: utf8)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "/") where escapingSlashes: out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func object() -> FlatJSONFields? {
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            var fields = FlatJSONFields()
            skipSpace()
            if take(UInt8(ascii: "}")) { return atEnd() ? fields : nil }
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                guard let value = string(), fields.add(key, value) else { return nil }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                return atEnd() ? fields : nil
            }
        }

        private mutating func atEnd() -> Bool {
            skipSpace()
            return index == bytes.count
        }

        private mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        private mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            // Without escapes (the common case) the string is one slice of the input.
            var end = index
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                defer { index = end + 1 }
                return Self.utf8String(bytes[index..<end])
            }
            var out = [UInt8]()
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    // Valid UTF-8 only: JSONDecoder refuses the rest, and so does this.
                    return Self.utf8String(out[...])
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: return nil
                    }
                case 0x00..<0x20: return nil
                default: out.append(byte)
                }
            }
            return nil
        }

        /// The bytes as a String, or nil when they are not valid UTF-8 (JSONDecoder refuses
        /// those too). Decoding repairs invalid bytes, so a repaired result differs from its input.
        /// (`String(bytes:encoding:)` does the same, generically: it cost more than the parse.)
        private static func utf8String(_ bytes: ArraySlice<UInt8>) -> String? {
            bytes.withUnsafeBufferPointer { input in
                var text = String(decoding: input, as: UTF8.self)
                // ASCII is valid as it is; anything else must come back unchanged.
                if !input.contains(where: { $0 >= 0x80 }) { return text }
                return text.withUTF8 { $0.elementsEqual(input) } ? text : nil
            }
        }

        /// After `\u`: four hex digits, and a surrogate pair's second half when it is one.
        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let high = hex4() else { return nil }
            if (0xD800..<0xDC00).contains(high) {
                guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            }
            return Unicode.Scalar(high)
        }

        private mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
    }
}
