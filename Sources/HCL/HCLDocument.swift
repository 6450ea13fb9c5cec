import LeanFoundation

/// A parsed configuration file, HCL or its JSON form.
public struct HCLDocument: Sendable {
    /// The name errors use for the file.
    public let file: String
    /// The top-level attributes and blocks.
    public let body: HCLBody
    /// Whether the text was the JSON form.
    public let isJSON: Bool

    /// Parses `text`. JSON is recognised by its first character being `{` (HCL cannot start
    /// with one) or by a `.json` file name.
    public init(parsing text: String, file: String = "<config>") throws(HCLError) {
        self.file = file
        let firstSignificant = text.utf8.first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) })
        if file.hasSuffix(".json") || firstSignificant == UInt8(ascii: "{") {
            var parser = JSONConfigParser(text, file: file)
            body = try parser.parseFile()
            isJSON = true
        } else {
            var parser = HCLParser(text, file: file)
            body = try parser.parseFile()
            isJSON = false
        }
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws(HCLError) {
        let data: [UInt8]
        do { data = try StandardStreams.readFile(path) } catch {
            throw HCLError(.io, at: SourceLocation(file: path, line: 0, column: 0), "cannot read the configuration file: \(String(cString: strerror(error.code)))")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            let line = Self.lineOfFirstInvalidUTF8(data)
            throw HCLError(.syntax, at: SourceLocation(file: path, line: line, column: 0), "the file is not valid UTF-8 text")
        }
        try self.init(parsing: text, file: path)
    }

    /// The top-level body, ready for typed decoding.
    public var root: ConfigBody {
        ConfigBody(items: body.items.map(ConfigBody.Entry.init), location: body.location, context: "")
    }

    /// The 1-based line holding the first byte that is not valid UTF-8.
    static func lineOfFirstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var line = 1
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
            guard length > 0, index + length <= bytes.count,
                  bytes[index + 1 ..< index + length].allSatisfy({ $0 & 0xC0 == 0x80 }),
                  String(validating: bytes[index ..< index + length], as: UTF8.self) != nil
            else { return line }
            if lead == UInt8(ascii: "\n") { line += 1 }
            index += length
        }
        return line
    }
}
