/// The few regular files of a snapshot as a POSIX ustar archive — the container Vault's
/// snapshots use, and the one the `bao` CLI opens to check that `SHA256SUMS.sealed` is there.
///
/// Written by hand rather than through a library: the archive holds four files whose names
/// vaultd chooses, and reading only ever accepts that shape (regular files, short names,
/// bounded sizes), so the whole format needed is 512-byte headers and zero padding.
enum TarArchive {
    static let blockSize = 512

    struct Entry: Equatable {
        var name: String
        var contents: [UInt8]
    }

    /// The archive of `entries` in order, each file mode 0600, ended by two zero blocks.
    static func write(_ entries: [Entry], modificationTime: Int) -> [UInt8] {
        var archive = [UInt8]()
        for entry in entries {
            var header = [UInt8](repeating: 0, count: blockSize)
            put(entry.name, into: &header, at: 0, width: 100)
            put(octal(0o600, width: 8), into: &header, at: 100, width: 8)
            put(octal(0, width: 8), into: &header, at: 108, width: 8)
            put(octal(0, width: 8), into: &header, at: 116, width: 8)
            put(octal(entry.contents.count, width: 12), into: &header, at: 124, width: 12)
            put(octal(modificationTime, width: 12), into: &header, at: 136, width: 12)
            header[156] = UInt8(ascii: "0")
            put("ustar", into: &header, at: 257, width: 6)
            put("00", into: &header, at: 263, width: 2)
            // The checksum is computed with its own field as eight spaces.
            for index in 148..<156 { header[index] = UInt8(ascii: " ") }
            let sum = header.reduce(0) { $0 + Int($1) }
            put(octal(sum, width: 7), into: &header, at: 148, width: 7)
            archive += header
            archive += entry.contents
            archive += [UInt8](repeating: 0, count: padding(entry.contents.count))
        }
        archive += [UInt8](repeating: 0, count: 2 * blockSize)
        return archive
    }

    /// The regular files of `archive`; anything else (a bad checksum, a link, a size past the
    /// end) is an error naming what is wrong.
    static func read(_ archive: [UInt8], maximumEntries: Int = 16) throws(SnapshotError) -> [Entry] {
        var entries = [Entry]()
        var offset = 0
        while true {
            guard offset + blockSize <= archive.count else {
                throw SnapshotError(.damaged, "the archive ends inside a header (at byte \(offset)): the file is truncated")
            }
            let header = Array(archive[offset..<offset + blockSize])
            if header.allSatisfy({ $0 == 0 }) { return entries }
            var check = header
            for index in 148..<156 { check[index] = UInt8(ascii: " ") }
            guard let recorded = number(header[148..<156]), recorded == check.reduce(0, { $0 + Int($1) }) else {
                throw SnapshotError(.damaged, "the archive header at byte \(offset) fails its checksum")
            }
            guard header[156] == UInt8(ascii: "0") || header[156] == 0 else {
                throw SnapshotError(.damaged, "the archive holds something other than a regular file at byte \(offset)")
            }
            guard let size = number(header[124..<136]) else {
                throw SnapshotError(.damaged, "the archive header at byte \(offset) has no readable size")
            }
            let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
            let start = offset + blockSize
            guard size <= archive.count - start else {
                throw SnapshotError(.damaged, "\(name) is \(size) bytes but the archive ends after \(archive.count - start): the file is truncated")
            }
            entries.append(Entry(name: name, contents: Array(archive[start..<start + size])))
            guard entries.count <= maximumEntries else {
                throw SnapshotError(.damaged, "the archive holds more than \(maximumEntries) files: it is not a vaultd snapshot")
            }
            offset = start + size + padding(size)
        }
    }

    private static func padding(_ size: Int) -> Int { (blockSize - size % blockSize) % blockSize }

    private static func octal(_ value: Int, width: Int) -> String {
        let digits = String(value, radix: 8)
        return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
    }

    private static func put(_ text: String, into header: inout [UInt8], at offset: Int, width: Int) {
        for (index, byte) in text.utf8.prefix(width).enumerated() { header[offset + index] = byte }
    }

    /// An octal field, ended by NUL or space.
    private static func number(_ field: ArraySlice<UInt8>) -> Int? {
        let text = String(decoding: field.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }, as: UTF8.self)
        return text.isEmpty ? nil : Int(text, radix: 8)
    }
}
