/// A cursor over UTF-8 bytes that tracks line and column, shared by the HCL and JSON parsers.
struct Scanner {
    let bytes: [UInt8]
    let file: String
    private(set) var offset = 0
    private(set) var line = 1
    private(set) var column = 1

    init(_ text: String, file: String) {
        self.bytes = Array(text.utf8)
        self.file = file
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    func peek(_ ahead: Int = 0) -> UInt8? {
        let index = offset + ahead
        return index < bytes.count ? bytes[index] : nil
    }

    func peekIs(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard offset + utf8.count <= bytes.count else { return false }
        return bytes[offset..<offset + utf8.count].elementsEqual(utf8)
    }

    @discardableResult
    mutating func advance() -> UInt8 {
        let byte = bytes[offset]
        offset += 1
        if byte == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            // Count characters, not bytes: UTF-8 continuation bytes do not move the column.
            column += 1
        }
        return byte
    }

    mutating func advance(_ count: Int) {
        for _ in 0..<count { advance() }
    }

    /// A description of what is at the cursor, for "found …" in errors.
    func describeCurrent() -> String {
        guard let byte = peek() else { return "the end of the file" }
        switch byte {
        case UInt8(ascii: "\n"): return "a line break"
        case 0x21...0x7e: return "'\(Character(Unicode.Scalar(byte)))'"
        default:
            var end = offset + 1
            while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
            let text = String(decoding: bytes[offset..<end], as: UTF8.self)
            return "'\(text)'"
        }
    }

    func error(_ message: String, code: HCLError.Code = .syntax, at location: SourceLocation? = nil) -> HCLError {
        HCLError(code, at: location ?? self.location, message)
    }
}

extension Scanner {
    /// Scans `-?digits(.digits)?([eE][+-]?digits)?`, the number syntax HCL and JSON share.
    /// With `strictFraction`, a '.' must be followed by digits (JSON); otherwise a '.' not
    /// followed by a digit ends the number (HCL).
    mutating func scanNumber(strictFraction: Bool) throws(HCLError) -> HCLNumber {
        let location = self.location
        let start = offset
        if peek() == UInt8(ascii: "-") { advance() }
        guard let first = peek(), first.isDigit else {
            throw error("expected a digit\(offset > start ? " after '-'" : ""), found \(describeCurrent())")
        }
        var isInteger = true
        while let byte = peek(), byte.isDigit { advance() }
        if peek() == UInt8(ascii: "."), strictFraction || (peek(1)?.isDigit ?? false) {
            isInteger = false
            advance()
            guard let digit = peek(), digit.isDigit else {
                throw error("expected a digit after '.', found \(describeCurrent())")
            }
            while let byte = peek(), byte.isDigit { advance() }
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            isInteger = false
            advance()
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { advance() }
            guard let digit = peek(), digit.isDigit else {
                throw error("expected the exponent's digits, found \(describeCurrent())")
            }
            while let byte = peek(), byte.isDigit { advance() }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if isInteger, let value = Int(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else {
            throw HCLError(.invalidValue, at: location, "the number \(text) is out of range")
        }
        return .float(value)
    }

    /// Reads exactly `count` hex digits as one code unit, for `\\u` escapes.
    mutating func scanHexDigits(_ count: Int, escapeAt location: SourceLocation, name: String) throws(HCLError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let hex = peek(), hex.isHexDigit else {
                throw HCLError(.syntax, at: location, "expected \(count) hex digits after '\\\(name)'")
            }
            advance()
            value = value << 4 | UInt32(Character(Unicode.Scalar(hex)).hexDigitValue!)
        }
        return value
    }
}

extension UInt8 {
    var isIdentifierStart: Bool {
        (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z"))
            || self == UInt8(ascii: "_")
            || self >= 0x80  // non-ASCII letters (HCL identifiers are Unicode)
    }

    var isIdentifierContinue: Bool {
        isIdentifierStart || isDigit || self == UInt8(ascii: "-")
    }

    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }

    var isHexDigit: Bool {
        isDigit || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
