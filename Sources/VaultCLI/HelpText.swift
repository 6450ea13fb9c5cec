/// Help prose, wrapped at word boundaries.
///
/// ArgumentParser keeps every newline of a `discussion` and wraps each line on its own at the
/// terminal's width. Source text hard-wrapped at the code's 100 columns therefore printed as a
/// full 80-column line and a two-word fragment, breaking sentences mid-way. `prose` joins each
/// paragraph's lines and wraps it at ``width`` (below ArgumentParser's 80-column default, so it
/// is printed as given), keeping the paragraph's indentation and a list item's hanging indent.
///
/// A paragraph is a run of lines with the same indentation. Blank lines separate paragraphs; a
/// line starting with `- ` or `1. ` starts a list item, whose continuation lines are indented to
/// its text. A block (between blank lines) whose first line is indented is an example — a
/// configuration, a command — and is printed as it is, never joined: keep its lines under
/// ``width``.
public enum HelpText {
    public static let width = 78

    public static func prose(_ text: String, width: Int = width) -> String {
        var output = [String]()
        var paragraph: (indent: Int, hanging: Int, words: [Substring])?

        func flush() {
            guard let current = paragraph else { return }
            output += wrap(current.words, indent: current.indent, hanging: current.hanging, width: width)
            paragraph = nil
        }

        var verbatim = false
        var blockStart = true
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indent = line.prefix { $0 == " " }.count
            let content = line.dropFirst(indent)
            if content.isEmpty {
                flush()
                output.append("")
                blockStart = true
                verbatim = false
                continue
            }
            if blockStart { verbatim = indent > 0 }
            blockStart = false
            if verbatim {
                output.append(String(line))
            } else if let marker = listMarker(content) {
                flush()
                paragraph = (indent, indent + marker, content.split(separator: " "))
            } else if let current = paragraph, indent == current.hanging {
                paragraph?.words += content.split(separator: " ")
            } else {
                flush()
                paragraph = (indent, indent, content.split(separator: " "))
            }
        }
        flush()
        return output.joined(separator: "\n")
    }

    /// The width of a list item's marker (`- `, `1. `), or nil for a line of prose.
    static func listMarker(_ content: Substring) -> Int? {
        if content.hasPrefix("- ") { return 2 }
        let digits = content.prefix { $0.isNumber }
        guard !digits.isEmpty, content.dropFirst(digits.count).hasPrefix(". ") else { return nil }
        return digits.count + 2
    }

    /// Greedy wrap: as many words per line as fit; a word longer than the line stands alone.
    static func wrap(_ words: [Substring], indent: Int, hanging: Int, width: Int) -> [String] {
        var lines = [String]()
        var line = String(repeating: " ", count: indent)
        var empty = true
        for word in words {
            if !empty && line.count + 1 + word.count > width {
                lines.append(line)
                line = String(repeating: " ", count: hanging)
                empty = true
            }
            line += (empty ? "" : " ") + word
            empty = false
        }
        if !empty { lines.append(line) }
        return lines
    }
}
