/// A parser for the HCL that Vault configurations use: blocks with any number of labels,
/// attributes, quoted strings (escapes decoded, `${…}`/`%{…}` kept literally), heredocs,
/// numbers, bools, null, lists, objects and `#`, `//`, `/* */` comments.
///
/// Expressions, functions and variables are not evaluated: a configuration is data. Line
/// breaks are treated as white space, so Vault's one-line blocks
/// (`listener "unix" { address = "…"  socket_mode = "0660" }`) parse as Vault parses them.
struct HCLParser {
    /// Deeper nesting than any real configuration, shallow enough that hostile input cannot
    /// exhaust the stack.
    static let maximumDepth = 64

    private var scanner: Scanner

    init(_ text: String, file: String) {
        scanner = Scanner(text, file: file)
    }

    mutating func parseFile() throws(HCLError) -> HCLBody {
        try parseBody(closing: nil, depth: 0)
    }

    // MARK: - Bodies

    private mutating func parseBody(closing opener: SourceLocation?, depth: Int) throws(HCLError) -> HCLBody {
        let start = scanner.location
        var items = [HCLBody.Item]()
        var seen = [String: SourceLocation]()
        while true {
            try skipTrivia()
            guard let byte = scanner.peek() else {
                if let opener {
                    throw scanner.error("expected '}' to close the block opened at \(opener.line):\(opener.column), found the end of the file")
                }
                return HCLBody(items: items, location: start)
            }
            if byte == UInt8(ascii: "}") {
                guard opener != nil else {
                    throw scanner.error("unexpected '}': no block is open here")
                }
                scanner.advance()
                return HCLBody(items: items, location: start)
            }
            let nameLocation = scanner.location
            let name = try parseKey(what: "an attribute name or a block type")
            try skipTrivia()
            if scanner.peek() == UInt8(ascii: "=") {
                scanner.advance()
                let value = try parseValue(depth: depth + 1)
                if let first = seen[name] {
                    throw HCLError(
                        .duplicate, at: nameLocation,
                        "'\(name)' is set twice in this body (first at \(first.line):\(first.column))"
                    )
                }
                seen[name] = nameLocation
                items.append(.attribute(HCLAttribute(name: name, location: nameLocation, value: value)))
                continue
            }
            var labels = [String]()
            while let next = scanner.peek(), next == UInt8(ascii: "\"") || next.isIdentifierStart {
                labels.append(try parseKey(what: "a block label"))
                try skipTrivia()
            }
            guard scanner.peek() == UInt8(ascii: "{") else {
                let expected = labels.isEmpty ? "'=' or a block label" : "another label or '{'"
                throw scanner.error("expected \(expected) after '\(name)', found \(scanner.describeCurrent())")
            }
            guard depth < Self.maximumDepth else {
                throw scanner.error("blocks are nested more than \(Self.maximumDepth) deep", code: .tooDeep)
            }
            let opening = scanner.location
            scanner.advance()
            let body = try parseBody(closing: opening, depth: depth + 1)
            items.append(.block(HCLBlock(type: name, labels: labels, location: nameLocation, body: body)))
        }
    }

    /// An identifier, or a quoted string used as a name or label.
    private mutating func parseKey(what: String) throws(HCLError) -> String {
        guard let byte = scanner.peek() else {
            throw scanner.error("expected \(what), found the end of the file")
        }
        if byte == UInt8(ascii: "\"") {
            return try parseQuotedString()
        }
        guard byte.isIdentifierStart else {
            throw scanner.error("expected \(what), found \(scanner.describeCurrent())")
        }
        return parseIdentifier()
    }

    private mutating func parseIdentifier() -> String {
        let start = scanner.offset
        while let byte = scanner.peek(), byte.isIdentifierContinue { scanner.advance() }
        return String(decoding: scanner.bytes[start..<scanner.offset], as: UTF8.self)
    }

    // MARK: - Values

    private mutating func parseValue(depth: Int) throws(HCLError) -> HCLValue {
        try skipTrivia()
        let location = scanner.location
        guard let byte = scanner.peek() else {
            throw scanner.error("expected a value, found the end of the file")
        }
        switch byte {
        case UInt8(ascii: "\""):
            return HCLValue(.string(try parseQuotedString()), at: location)
        case UInt8(ascii: "<") where scanner.peekIs("<<"):
            return HCLValue(.string(try parseHeredoc()), at: location, isHeredoc: true)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return HCLValue(.number(try parseNumber()), at: location)
        case UInt8(ascii: "["):
            return try parseList(depth: depth)
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth)
        case let b where b.isIdentifierStart:
            let word = parseIdentifier()
            switch word {
            case "true": return HCLValue(.bool(true), at: location)
            case "false": return HCLValue(.bool(false), at: location)
            case "null": return HCLValue(.null, at: location)
            default:
                throw HCLError(
                    .syntax, at: location,
                    "expected a value (a quoted string, number, true/false, null, list or object), found '\(word)': variables and expressions are not supported; quote it if it is text"
                )
            }
        default:
            throw scanner.error("expected a value (a quoted string, number, true/false, null, list or object), found \(scanner.describeCurrent())")
        }
    }

    private mutating func parseList(depth: Int) throws(HCLError) -> HCLValue {
        let location = scanner.location
        guard depth < Self.maximumDepth else {
            throw scanner.error("values are nested more than \(Self.maximumDepth) deep", code: .tooDeep)
        }
        scanner.advance()  // [
        var elements = [HCLValue]()
        while true {
            try skipTrivia()
            if scanner.peek() == UInt8(ascii: "]") {
                scanner.advance()
                return HCLValue(.list(elements), at: location)
            }
            if scanner.isAtEnd {
                throw scanner.error("expected ']' to close the list opened at \(location.line):\(location.column), found the end of the file")
            }
            elements.append(try parseValue(depth: depth + 1))
            try skipTrivia()
            switch scanner.peek() {
            case UInt8(ascii: ","): scanner.advance()
            case UInt8(ascii: "]"): continue
            default:
                throw scanner.error("expected ',' or ']' in the list opened at \(location.line):\(location.column), found \(scanner.describeCurrent())")
            }
        }
    }

    private mutating func parseObject(depth: Int) throws(HCLError) -> HCLValue {
        let location = scanner.location
        guard depth < Self.maximumDepth else {
            throw scanner.error("values are nested more than \(Self.maximumDepth) deep", code: .tooDeep)
        }
        scanner.advance()  // {
        var entries = [HCLObjectEntry]()
        var seen = [String: SourceLocation]()
        while true {
            try skipTrivia()
            if scanner.peek() == UInt8(ascii: "}") {
                scanner.advance()
                return HCLValue(.object(entries), at: location)
            }
            if scanner.isAtEnd {
                throw scanner.error("expected '}' to close the object opened at \(location.line):\(location.column), found the end of the file")
            }
            let keyLocation = scanner.location
            let key = try parseKey(what: "an object key")
            try skipTrivia()
            guard let separator = scanner.peek(), separator == UInt8(ascii: "=") || separator == UInt8(ascii: ":") else {
                throw scanner.error("expected '=' or ':' after the object key '\(key)', found \(scanner.describeCurrent())")
            }
            scanner.advance()
            let value = try parseValue(depth: depth + 1)
            if let first = seen[key] {
                throw HCLError(
                    .duplicate, at: keyLocation,
                    "the key '\(key)' appears twice in this object (first at \(first.line):\(first.column))"
                )
            }
            seen[key] = keyLocation
            entries.append(HCLObjectEntry(key: key, keyLocation: keyLocation, value: value))
            try skipTrivia()
            if scanner.peek() == UInt8(ascii: ",") { scanner.advance() }
        }
    }

    private mutating func parseNumber() throws(HCLError) -> HCLNumber {
        let number = try scanner.scanNumber(strictFraction: false)
        if let byte = scanner.peek(), byte.isIdentifierStart {
            throw scanner.error("unexpected \(scanner.describeCurrent()) after a number: quote the value if it is text")
        }
        return number
    }

    // MARK: - Strings

    private mutating func parseQuotedString() throws(HCLError) -> String {
        let opening = scanner.location
        scanner.advance()  // "
        var out = [UInt8]()
        while true {
            guard let byte = scanner.peek() else {
                throw HCLError(.syntax, at: opening, "this string is never closed: expected '\"' before the end of the file")
            }
            switch byte {
            case UInt8(ascii: "\""):
                scanner.advance()
                return try decodeUTF8(out, at: opening)
            case UInt8(ascii: "\n"):
                throw HCLError(.syntax, at: opening, "this string is not closed on its line: expected '\"' (use a heredoc for text over several lines)")
            case UInt8(ascii: "\\"):
                try parseEscape(into: &out)
            case UInt8(ascii: "$"), UInt8(ascii: "%"):
                if scanner.peek(1) == UInt8(ascii: "{") {
                    try copyTemplateSequence(into: &out)
                } else {
                    out.append(scanner.advance())
                }
            default:
                out.append(scanner.advance())
            }
        }
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(HCLError) {
        let location = scanner.location
        scanner.advance()  // backslash
        guard let byte = scanner.peek() else {
            throw scanner.error("expected an escape character after '\\', found the end of the file")
        }
        scanner.advance()
        switch byte {
        case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
        case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
        case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
        case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let value = try scanner.scanHexDigits(
                byte == UInt8(ascii: "u") ? 4 : 8, escapeAt: location, name: String(Character(Unicode.Scalar(byte)))
            )
            guard let scalar = Unicode.Scalar(value) else {
                throw HCLError(.syntax, at: location, "'\\\(Character(Unicode.Scalar(byte)))' names no Unicode character")
            }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw HCLError(
                .syntax, at: location,
                "unknown escape '\\\(String(decoding: [byte], as: UTF8.self))': use \\n, \\r, \\t, \\\", \\\\, \\uNNNN or \\UNNNNNNNN"
            )
        }
    }

    /// Copies `${ … }` or `%{ … }` verbatim, including nested braces and quoted strings, so
    /// interpolation syntax reaches the program as written.
    private mutating func copyTemplateSequence(into out: inout [UInt8]) throws(HCLError) {
        let opening = scanner.location
        out.append(scanner.advance())  // $ or %
        out.append(scanner.advance())  // {
        var depth = 1
        var inString = false
        while depth > 0 {
            guard let byte = scanner.peek(), byte != UInt8(ascii: "\n") || inString == false else {
                throw HCLError(.syntax, at: opening, "this '${' is never closed: expected '}'")
            }
            if byte == UInt8(ascii: "\n") {
                throw HCLError(.syntax, at: opening, "this '${' is not closed on its line: expected '}'")
            }
            out.append(scanner.advance())
            if inString {
                if byte == UInt8(ascii: "\\"), let next = scanner.peek(), next != UInt8(ascii: "\n") {
                    out.append(scanner.advance())
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
            }
        }
    }

    /// `<<ID` … `ID` or `<<-ID` … `ID` (indented: the common leading white space is removed).
    /// The text keeps its final newline, as HCL specifies.
    private mutating func parseHeredoc() throws(HCLError) -> String {
        let opening = scanner.location
        scanner.advance(2)  // <<
        let indented = scanner.peek() == UInt8(ascii: "-")
        if indented { scanner.advance() }
        guard let first = scanner.peek(), first.isIdentifierStart else {
            throw scanner.error("expected a heredoc marker (like EOF) after '<<', found \(scanner.describeCurrent())")
        }
        let marker = parseIdentifier()
        while let byte = scanner.peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
            scanner.advance()
        }
        guard scanner.peek() == UInt8(ascii: "\n") else {
            throw scanner.error("expected a line break after '<<\(indented ? "-" : "")\(marker)', found \(scanner.describeCurrent())")
        }
        scanner.advance()
        var lines = [[UInt8]]()
        while true {
            guard !scanner.isAtEnd else {
                throw HCLError(.syntax, at: opening, "the heredoc '\(marker)' is never closed: expected a line holding only '\(marker)'")
            }
            let start = scanner.offset
            while let byte = scanner.peek(), byte != UInt8(ascii: "\n") { scanner.advance() }
            var line = Array(scanner.bytes[start..<scanner.offset])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let trimmed = line.drop(while: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            if trimmed.elementsEqual(marker.utf8) {
                break
            }
            lines.append(line)
            if scanner.isAtEnd {
                throw HCLError(.syntax, at: opening, "the heredoc '\(marker)' is never closed: expected a line holding only '\(marker)'")
            }
            scanner.advance()  // newline
        }
        if indented {
            let indents = lines
                .filter { line in line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) }
                .map { line in line.prefix(while: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }).count }
            let strip = indents.min() ?? 0
            lines = lines.map { Array($0.dropFirst(min(strip, $0.prefix(while: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }).count))) }
        }
        var out = [UInt8]()
        for line in lines {
            out.append(contentsOf: line)
            out.append(UInt8(ascii: "\n"))
        }
        return try decodeUTF8(out, at: opening)
    }

    private func decodeUTF8(_ bytes: [UInt8], at location: SourceLocation) throws(HCLError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw HCLError(.syntax, at: location, "this string is not valid UTF-8")
        }
        return text
    }

    // MARK: - Trivia

    /// Skips spaces, line breaks and comments.
    private mutating func skipTrivia() throws(HCLError) {
        while let byte = scanner.peek() {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                scanner.advance()
            case UInt8(ascii: "#"):
                skipLine()
            case UInt8(ascii: "/") where scanner.peek(1) == UInt8(ascii: "/"):
                skipLine()
            case UInt8(ascii: "/") where scanner.peek(1) == UInt8(ascii: "*"):
                let opening = scanner.location
                scanner.advance(2)
                while !scanner.peekIs("*/") {
                    guard !scanner.isAtEnd else {
                        throw HCLError(.syntax, at: opening, "this comment is never closed: expected '*/'")
                    }
                    scanner.advance()
                }
                scanner.advance(2)
            case 0xEF where scanner.offset == 0 && scanner.peekIs("\u{FEFF}"):
                scanner.advance(3)  // byte-order mark
            default:
                return
            }
        }
    }

    private mutating func skipLine() {
        while let byte = scanner.peek(), byte != UInt8(ascii: "\n") { scanner.advance() }
    }
}
