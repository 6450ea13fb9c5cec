/// The JSON form of a configuration (Vault's `config.json`), parsed into the same
/// ``HCLValue``s with positions, so errors point at `file:line:column` just as for HCL.
///
/// JSON has no blocks: `"listener": {"tcp": {…}}` is an attribute holding an object, and
/// ``ConfigBody/blocks(_:labels:)`` reads such objects as blocks.
struct JSONConfigParser {
    private var scanner: Scanner

    init(_ text: String, file: String) {
        scanner = Scanner(text, file: file)
    }

    mutating func parseFile() throws(HCLError) -> HCLBody {
        skipWhitespace()
        let start = scanner.location
        guard scanner.peek() == UInt8(ascii: "{") else {
            throw scanner.error("a JSON configuration is one object: expected '{', found \(scanner.describeCurrent())")
        }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard scanner.isAtEnd else {
            throw scanner.error("expected the end of the file after the configuration object, found \(scanner.describeCurrent())")
        }
        guard case .object(let entries) = value.kind else { fatalError("unreachable") }
        let items = entries.map {
            HCLBody.Item.attribute(HCLAttribute(name: $0.key, location: $0.keyLocation, value: $0.value))
        }
        return HCLBody(items: items, location: start)
    }

    private mutating func parseValue(depth: Int) throws(HCLError) -> HCLValue {
        skipWhitespace()
        let location = scanner.location
        guard let byte = scanner.peek() else {
            throw scanner.error("expected a JSON value, found the end of the file")
        }
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < HCLParser.maximumDepth else {
                throw scanner.error("values are nested more than \(HCLParser.maximumDepth) deep", code: .tooDeep)
            }
            return byte == UInt8(ascii: "{") ? try parseObject(depth: depth) : try parseArray(depth: depth)
        case UInt8(ascii: "\""):
            return HCLValue(.string(try parseString()), at: location)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return HCLValue(.number(try parseNumber()), at: location)
        default:
            for (word, kind) in [("true", HCLValue.Kind.bool(true)), ("false", .bool(false)), ("null", .null)]
            where scanner.peekIs(word) {
                scanner.advance(word.utf8.count)
                return HCLValue(kind, at: location)
            }
            throw scanner.error("expected a JSON value, found \(scanner.describeCurrent())")
        }
    }

    private mutating func parseObject(depth: Int) throws(HCLError) -> HCLValue {
        let location = scanner.location
        scanner.advance()
        var entries = [HCLObjectEntry]()
        var seen = [String: SourceLocation]()
        skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") {
            scanner.advance()
            return HCLValue(.object([]), at: location)
        }
        while true {
            skipWhitespace()
            let keyLocation = scanner.location
            guard scanner.peek() == UInt8(ascii: "\"") else {
                throw scanner.error("expected a quoted key in the object opened at \(location.line):\(location.column), found \(scanner.describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            guard scanner.peek() == UInt8(ascii: ":") else {
                throw scanner.error("expected ':' after the key \"\(key)\", found \(scanner.describeCurrent())")
            }
            scanner.advance()
            let value = try parseValue(depth: depth + 1)
            if let first = seen[key] {
                throw HCLError(.duplicate, at: keyLocation, "the key \"\(key)\" appears twice in this object (first at \(first.line):\(first.column))")
            }
            seen[key] = keyLocation
            entries.append(HCLObjectEntry(key: key, keyLocation: keyLocation, value: value))
            skipWhitespace()
            switch scanner.peek() {
            case UInt8(ascii: ","): scanner.advance()
            case UInt8(ascii: "}"):
                scanner.advance()
                return HCLValue(.object(entries), at: location)
            default:
                throw scanner.error("expected ',' or '}' in the object opened at \(location.line):\(location.column), found \(scanner.describeCurrent())")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(HCLError) -> HCLValue {
        let location = scanner.location
        scanner.advance()
        var elements = [HCLValue]()
        skipWhitespace()
        if scanner.peek() == UInt8(ascii: "]") {
            scanner.advance()
            return HCLValue(.list([]), at: location)
        }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch scanner.peek() {
            case UInt8(ascii: ","): scanner.advance()
            case UInt8(ascii: "]"):
                scanner.advance()
                return HCLValue(.list(elements), at: location)
            default:
                throw scanner.error("expected ',' or ']' in the array opened at \(location.line):\(location.column), found \(scanner.describeCurrent())")
            }
        }
    }

    private mutating func parseString() throws(HCLError) -> String {
        let opening = scanner.location
        scanner.advance()
        var out = [UInt8]()
        var pendingHighSurrogate: UInt32?
        while true {
            guard let byte = scanner.peek() else {
                throw HCLError(.syntax, at: opening, "this string is never closed: expected '\"'")
            }
            if byte < 0x20 {
                throw scanner.error("control characters must be escaped in JSON strings")
            }
            scanner.advance()
            if byte == UInt8(ascii: "\"") {
                guard pendingHighSurrogate == nil else {
                    throw HCLError(.syntax, at: opening, "this string ends in half of a surrogate pair")
                }
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw HCLError(.syntax, at: opening, "this string is not valid UTF-8")
                }
                return text
            }
            guard byte == UInt8(ascii: "\\") else {
                guard pendingHighSurrogate == nil else {
                    throw scanner.error("expected the second half of a surrogate pair")
                }
                out.append(byte)
                continue
            }
            let escapeLocation = scanner.location
            guard let escape = scanner.peek() else {
                throw scanner.error("expected an escape character after '\\', found the end of the file")
            }
            scanner.advance()
            if escape != UInt8(ascii: "u"), pendingHighSurrogate != nil {
                throw HCLError(.syntax, at: escapeLocation, "expected the second half of a surrogate pair")
            }
            switch escape {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
            case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "u"):
                let unit = try scanner.scanHexDigits(4, escapeAt: escapeLocation, name: "u")
                var scalarValue = unit
                if let high = pendingHighSurrogate {
                    guard (0xDC00...0xDFFF).contains(unit) else {
                        throw HCLError(.syntax, at: escapeLocation, "expected the second half of a surrogate pair")
                    }
                    scalarValue = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
                    pendingHighSurrogate = nil
                } else if (0xD800...0xDBFF).contains(unit) {
                    pendingHighSurrogate = unit
                    continue
                }
                guard let scalar = Unicode.Scalar(scalarValue) else {
                    throw HCLError(.syntax, at: escapeLocation, "'\\u' escape names no Unicode character")
                }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw HCLError(.syntax, at: escapeLocation, "unknown JSON escape '\\\(String(decoding: [escape], as: UTF8.self))'")
            }
        }
    }

    private mutating func parseNumber() throws(HCLError) -> HCLNumber {
        try scanner.scanNumber(strictFraction: true)
    }

    private mutating func skipWhitespace() {
        while let byte = scanner.peek(),
              byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
            scanner.advance()
        }
    }
}
