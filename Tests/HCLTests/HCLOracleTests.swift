import Foundation
import HCL
import TestSupport
import Testing

/// Our parser against python-hcl2, on a corpus of real Vault/OpenBao/agent configurations and
/// syntax samples (`Corpus/`).
@Suite("HCL corpus against python-hcl2")
struct HCLOracleTests {
    static let corpusDirectory = TestEnvironment.packageRoot.appendingPathComponent("Tests/HCLTests/Corpus")

    static var corpusFiles: [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpusDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".hcl") }.sorted().map { corpusDirectory.appendingPathComponent($0) }
    }

    @Test("the corpus has at least 30 documents and all parse")
    func corpusParses() throws {
        #expect(Self.corpusFiles.count >= 30)
        for file in Self.corpusFiles {
            #expect(throws: Never.self) { _ = try HCLDocument(contentsOf: file.path) }
        }
    }

    @Test(
        "every corpus document decodes to the JSON python-hcl2 gives",
        .enabled(if: TestEnvironment.shouldRunOracleTests("hcl2"), "needs the python-hcl2 oracle: run scripts/test")
    )
    func matchesOracle() async throws {
        var ours = [String]()
        for file in Self.corpusFiles {
            let document = try HCLDocument(contentsOf: file.path)
            ours.append("\(PythonHCL2Layout.quote(file.path)): \(PythonHCL2Layout.json(document.body))")
        }
        let script = try String(
            contentsOf: TestEnvironment.packageRoot.appendingPathComponent("Tests/HCLTests/Oracle/hcl2_compare.py"),
            encoding: .utf8
        )
        let result = try await TestEnvironment.runOracle(script, input: "{" + ours.joined(separator: ",\n") + "}")
        #expect(result.status == 0, "\(result.stderr)")
        let mismatches = result.stdout.split(separator: "\n").filter { !$0.hasPrefix("OK ") && !$0.hasPrefix("compared ") }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(result.stdout.contains("compared \(Self.corpusFiles.count)"))
    }
}

/// Our syntax tree in python-hcl2's layout: attributes as values; each block type as a list
/// with one entry per block, nested by label (`{"listener": [{"tcp": {…}}]}`).
///
/// One known difference is bridged here, not in the parser: python-hcl2 drops a heredoc's
/// final newline, which the HCL specification (and Vault) keep.
enum PythonHCL2Layout {
    static func json(_ body: HCLBody) -> String {
        var entries = [(String, String)]()
        var blockLists = [String: [String]]()
        var order = [String]()
        for item in body.items {
            switch item {
            case .attribute(let attribute):
                entries.append((attribute.name, json(attribute.value)))
                order.append(attribute.name)
            case .block(let block):
                var inner = json(block.body)
                for label in block.labels.reversed() {
                    inner = "{\(quote(label)): \(inner)}"
                }
                if blockLists[block.type] == nil { order.append(block.type) }
                blockLists[block.type, default: []].append(inner)
            }
        }
        let fields = order.map { name -> String in
            if let list = blockLists[name] {
                return "\(quote(name)): [\(list.joined(separator: ", "))]"
            }
            return "\(quote(name)): \(entries.first { $0.0 == name }!.1)"
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    static func json(_ value: HCLValue) -> String {
        switch value.kind {
        case .string(var text):
            if value.isHeredoc, text.hasSuffix("\n") { text.removeLast() }
            return quote(text)
        case .number(.integer(let number)): return String(number)
        case .number(.float(let number)): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        case .list(let elements): return "[" + elements.map(json).joined(separator: ", ") + "]"
        case .object(let entries):
            return "{" + entries.map { "\(quote($0.key)): \(json($0.value))" }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20: out += String(format: "\\u%04x", s.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
