import Foundation
import HCL
import Testing

@Suite("HCL parser")
struct HCLParserTests {
    static func parse(_ text: String) throws(HCLError) -> HCLBody {
        try HCLDocument(parsing: text, file: "test.hcl").body
    }

    static func error(_ text: String) -> HCLError? {
        do {
            _ = try HCLDocument(parsing: text, file: "test.hcl")
            return nil
        } catch {
            return error
        }
    }

    @Test("escapes are decoded as the HCL specification says, \\u and \\U included")
    func escapes() throws {
        let body = try Self.parse(#"a = "caf\u00e9 \u2603 \U0001F600 \"q\" \\ \n\t\r""#)
        guard case .string(let text) = body.attributes[0].value.kind else { Issue.record("not a string"); return }
        #expect(text == "café ☃ 😀 \"q\" \\ \n\t\r")
    }

    @Test("heredocs keep their final newline; <<- strips the common indentation")
    func heredocs() throws {
        let body = try Self.parse("a = <<EOF\n  x\ny\nEOF\nb = <<-EOT\n    one\n      two\n    EOT\n")
        guard case .string(let a) = body.attributes[0].value.kind,
              case .string(let b) = body.attributes[1].value.kind else { Issue.record("not strings"); return }
        #expect(a == "  x\ny\n")
        #expect(b == "one\n  two\n")
        #expect(body.attributes[0].value.isHeredoc)
    }

    @Test("Vault's one-line blocks with several attributes parse")
    func oneLineBlocks() throws {
        let body = try Self.parse(#"listener "unix" { address = "/run/x.sock"  socket_mode = "0660"  allowed_uids = [998] }"#)
        let block = try #require(body.blocks.first)
        #expect(block.type == "listener")
        #expect(block.labels == ["unix"])
        #expect(block.body.attributes.map(\.name) == ["address", "socket_mode", "allowed_uids"])
    }

    @Test("positions point at the token, counting characters not bytes")
    func positions() throws {
        let body = try Self.parse("# comment\n  first = 1\nblöck \"ü\" {\n  inner = \"x\"\n}\n")
        #expect(body.attributes[0].location == SourceLocation(file: "test.hcl", line: 2, column: 3))
        let block = body.blocks[0]
        #expect(block.location.line == 3)
        #expect(block.body.attributes[0].value.location == SourceLocation(file: "test.hcl", line: 4, column: 11))
    }

    /// Each malformed document, the line and column of the error, and words the message must
    /// contain.
    static let malformed: [(String, Int, Int, String)] = [
        ("a = ", 1, 5, "expected a value"),
        ("a = \"unterminated", 1, 5, "never closed"),
        ("a = \"line\nbreak\"", 1, 5, "not closed on its line"),
        ("block {\n  a = 1\n", 3, 1, "expected '}' to close the block opened at 1:7"),
        ("}", 1, 1, "unexpected '}'"),
        ("a = [1, 2", 1, 10, "expected ',' or ']' in the list opened at 1:5"),
        ("a = [1 2]", 1, 8, "expected ',' or ']'"),
        ("a = { b = 1", 1, 12, "expected '}' to close the object"),
        ("a = { b 1 }", 1, 9, "expected '=' or ':'"),
        ("a = foo", 1, 5, "variables and expressions are not supported"),
        ("a = 1\na = 2", 2, 1, "set twice"),
        ("a = { k = 1, k = 2 }", 1, 14, "appears twice"),
        ("block \"label\" = 1", 1, 15, "another label or '{'"),
        ("= 1", 1, 1, "expected an attribute name or a block type"),
        ("a = \"bad \\q escape\"", 1, 10, "unknown escape"),
        ("a = <<EOF\nnever closed\n", 1, 5, "never closed"),
        ("a = <<EOF trailing\nx\nEOF\n", 1, 11, "expected a line break"),
        ("/* open comment", 1, 1, "comment is never closed"),
        ("a = 12abc", 1, 7, "after a number"),
        ("a = -", 1, 6, "expected a digit"),
        ("a = 1e", 1, 7, "exponent"),
        ("a = \"${never closed\"", 1, 6, "never closed"),
        ("a = \"\\u12\"", 1, 6, "4 hex digits"),
        ("a = \"\\UFFFFFFFF\"", 1, 6, "no Unicode character"),
        ("a = 1e999", 1, 5, "out of range"),
        ("a b c", 1, 6, "another label or '{'"),
        ("a = [" + String(repeating: "[", count: 200), 1, 68, "nested more than 64"),
    ]

    @Test("malformed documents give positioned errors", arguments: 0..<malformed.count)
    func malformedDocument(index: Int) throws {
        let (text, line, column, fragment) = Self.malformed[index]
        let error = try #require(Self.error(text), "parsed without error: \(text)")
        #expect(error.location.line == line && error.location.column == column, "\(error)")
        #expect(error.message.contains(fragment), "\(error)")
        #expect(error.description.hasPrefix("test.hcl:\(line):\(column): "))
    }

    @Test("random mutations of the corpus never crash and errors stay inside the file")
    func mutations() async throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("{}[]=\":,#/*<-\\$%\n\t 0aZ.e".utf8)
        var failures = 0
        var total = 0
        for file in HCLOracleTests.corpusFiles {
            let original = Array(try Data(contentsOf: file))
            await Task.yield()  // a long CPU loop: let other tests' tasks run
            for _ in 0..<150 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0 where !bytes.isEmpty: bytes.remove(at: position)
                    case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
                    default: if !bytes.isEmpty { bytes[position] = alphabet.randomElement(using: &generator)! }
                    }
                }
                let text = String(decoding: bytes, as: UTF8.self)
                let lines = bytes.filter { $0 == UInt8(ascii: "\n") }.count + 1
                total += 1
                if let error = Self.error(text) {
                    failures += 1
                    #expect(error.location.line >= 1 && error.location.line <= lines + 1, "\(error)")
                    #expect(error.location.column >= 1, "\(error)")
                }
            }
        }
        #expect(total >= 30 * 150)
        #expect(failures > 0)
    }

    @Test("nesting is bounded, so hostile input cannot exhaust the stack")
    func depth() {
        let deepBlocks = String(repeating: "a {", count: 10_000)
        #expect(Self.error(deepBlocks)?.code == .tooDeep)
        let deepJSON = "{\"a\": " + String(repeating: "[", count: 10_000)
        #expect(Self.error(deepJSON)?.code == .tooDeep)
    }
}
