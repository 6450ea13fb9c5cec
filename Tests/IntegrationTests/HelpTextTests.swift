import Foundation
import TestSupport
import Testing

/// Every `--help` page of the three binaries, as an 80-column terminal shows it: prose wrapped
/// at word boundaries (no line broken while the next word would have fitted), examples printed
/// whole, and no line past 80 columns but ArgumentParser's USAGE line (which it never wraps).
@Suite("CLI: help text")
struct HelpTextTests {
    static let width = 80

    static func help(_ command: [String]) async throws -> String {
        let result = try await TestEnvironment.run(TestEnvironment.executable(command[0]), Array(command.dropFirst()) + ["--help"],
                                                   environment: ["COLUMNS": "\(width)", "PATH": "/usr/bin:/bin"])
        guard result.status == 0 else { throw TestSupportError("\(command.joined(separator: " ")) --help exited \(result.status): \(result.stderr)") }
        return result.stdout
    }

    /// The names under SUBCOMMANDS: (ArgumentParser's `help` excluded).
    static func subcommands(_ page: String) -> [String] {
        guard let section = page.components(separatedBy: "SUBCOMMANDS:\n").dropFirst().first else { return [] }
        var names = [String]()
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { continue }
            guard line.hasPrefix("  ") else { break }
            guard !line.hasPrefix("   "), let name = line.split(separator: " ").first, name != "See", name != "help" else { continue }
            names.append(String(name))
        }
        return names
    }

    /// What is wrong with one page's layout, one string per fault. The overview and discussion
    /// (everything before USAGE) are the project's text; the tables after it are ArgumentParser's
    /// own layout, checked for width only.
    static func faults(_ page: String) -> [String] {
        var faults = [String]()
        let lines = page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func indent(_ line: String) -> Int { line.prefix { $0 == " " }.count }
        func isItem(_ line: String) -> Bool { line.contains(/^\s*(- |\d+\. )/) }
        var blockIndent: Int?   // the first line's indentation of an example block, else nil
        var previous: String?
        var prose = true
        for line in lines {
            if line.hasPrefix("USAGE:") { prose = false }
            if line.count > width && !line.hasPrefix("USAGE:") { faults.append("longer than \(width): \(line)") }
            guard prose else { continue }
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                blockIndent = nil
                previous = nil
                continue
            }
            if previous == nil { blockIndent = indent(line) > 0 ? indent(line) : nil }
            if let blockIndent {
                // An example block: a line wrapped by the terminal comes back at column 0.
                if indent(line) < blockIndent { faults.append("an example line was too long and wrapped: …\(line)") }
            } else if let previous, indent(previous) == indent(line), !isItem(line), let word = line.split(separator: " ").first,
                      previous.count + 1 + word.count <= width - 2 {
                faults.append("broken before '\(word)' although it fits:\n    \(previous)\n    \(line)")
            }
            previous = line
        }
        return faults
    }

    @Test("every --help page of vaultd, unseal-agent and vaultctl wraps at word boundaries within 80 columns")
    func everyPage() async throws {
        var pending = [["vaultd"], ["unseal-agent"], ["vaultctl"]]
        var pages = 0
        while let command = pending.popLast() {
            let page = try await Self.help(command)
            pages += 1
            let faults = Self.faults(page)
            #expect(faults.isEmpty, "\(command.joined(separator: " ")) --help:\n\(faults.joined(separator: "\n"))")
            pending += Self.subcommands(page).map { command + [$0] }
        }
        #expect(pages >= 50, "only \(pages) help pages found")
    }

    @Test("the checker finds a sentence broken mid-way and an example wrapped by the terminal")
    func checkerFindsFaults() {
        let broken = "OVERVIEW: x\n\nWorks with vaultd and with OpenBao/HashiCorp Vault (Shamir seal). Without\n--config the\nProvide conventions apply.\n"
        #expect(Self.faults(broken).count == 1)
        let wrappedExample = "Reads:\n\n  listener \"unix\" { address = \"/run/vaultd/vaultd.sock\"  socket_mode = \"0660\"\nallowed_uids = [998] }\n"
        #expect(Self.faults(wrappedExample).count == 1)
        let fine = "OVERVIEW: x\n\nWorks with vaultd and with OpenBao/HashiCorp Vault (Shamir seal). Without\n--config, the Provide conventions apply.\n"
        #expect(Self.faults(fine).isEmpty)
    }
}
