import Foundation
import TestSupport
import Testing

/// What a newcomer reads: every relative link and anchor in the repository's Markdown resolves,
/// and the README's quickstart runs verbatim.
@Suite("documentation: links and the README's quickstart")
struct DocumentationTests {
    static let root = TestEnvironment.packageRoot

    /// Every Markdown file of the repository: not hidden directories (builds, the venv, git's),
    /// nor vendored vectors.
    static func markdownFiles() throws -> [String] {
        var out = [String]()
        let enumerator = FileManager.default.enumerator(atPath: root.path)
        while let path = enumerator?.nextObject() as? String {
            if path.split(separator: "/").contains(where: { $0.hasPrefix(".") }) || path.hasPrefix("Tests/AWSAuthTests/Vectors") {
                enumerator?.skipDescendants()
                continue
            }
            if path.hasSuffix(".md") { out.append(path) }
        }
        return out.sorted()
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens;
    /// a repeated heading gets `-1`, `-2`, ….
    static func anchors(in text: String) -> Set<String> {
        var seen = [String: Int]()
        var out = Set<String>()
        var inFence = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inFence.toggle() }
            guard !inFence, line.hasPrefix("#") else { continue }
            let title = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
            var slug = ""
            for character in title.lowercased() {
                if character.isLetter || character.isNumber || character == "_" || character == "-" { slug.append(character) } else if character == " " { slug.append("-") }
            }
            let count = seen[slug, default: 0]
            seen[slug] = count + 1
            out.insert(count == 0 ? slug : "\(slug)-\(count)")
        }
        return out
    }

    @Test("every relative link and anchor in the Markdown files resolves")
    func links() throws {
        var broken = [String]()
        let files = try Self.markdownFiles()
        #expect(files.contains("README.md") && files.contains("docs/operations.md"))
        for file in files {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            var inFence = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("```") { inFence.toggle() }
                if inFence { continue }
                for match in String(line).matches(of: /\]\(([^)\s]+)\)/) {
                    let target = String(match.1)
                    if target.contains("://") || target.hasPrefix("mailto:") { continue }
                    let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                    let path = String(parts[0]), anchor = parts.count > 1 ? String(parts[1]) : nil
                    let directory = (file as NSString).deletingLastPathComponent
                    let resolved = path.isEmpty ? file : ((directory as NSString).appendingPathComponent(path) as NSString).standardizingPath
                    guard !resolved.hasPrefix(".."), FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(resolved).path) else {
                        broken.append("\(file): \(target) (no such file in the repository)")
                        continue
                    }
                    if let anchor, resolved.hasSuffix(".md") {
                        let targetText = try String(contentsOf: Self.root.appendingPathComponent(resolved), encoding: .utf8)
                        if !Self.anchors(in: targetText).contains(anchor) { broken.append("\(file): \(target) (no heading with that anchor)") }
                    }
                }
            }
        }
        #expect(broken.isEmpty, "\(broken.joined(separator: "\n"))")
    }

    @Test("the anchor rule matches GitHub's on the headings this repository uses")
    func anchorRule() {
        #expect(Self.anchors(in: "# `vaultd` — the server\n## Audit log\n## Audit log\n### Azure Key Vault (`seal \"azurekeyvault\"`)")
                == ["vaultd--the-server", "audit-log", "audit-log-1", "azure-key-vault-seal-azurekeyvault"])
    }

    @Test("the README's quickstart runs verbatim: the agent initialises and unseals vaultd, a secret survives a restart")
    func quickstart() async throws {
        let block = try DocumentedCommandsTests.block("readme-quickstart", in: "README.md")
        var environment = ProcessInfo.processInfo.environment
        for name in ["VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN"] { environment.removeValue(forKey: name) }
        let result = try await TestEnvironment.run("/bin/bash", ["-euo", "pipefail", "-c", "cd '\(Self.root.path)'\n" + block],
                                                  environment: environment, timeout: .seconds(300))
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("correct horse"), "\(result.stdout)")
    }
}
