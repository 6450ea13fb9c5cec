import CompressNIO
import Crypto
import LeanFoundation
import NIOCore

/// A consistent copy of everything a vault stored, as one file: a gzip'd tar of
///
/// - `meta.json` — ``SnapshotManifest``: which vault, when, how many records;
/// - `state.bin` — every storage key and value (values are the vault's own ciphertext);
/// - `SHA256SUMS` — the SHA-256 of the two files above, one `hex  name` line each;
/// - `SHA256SUMS.sealed` — those lines encrypted under the vault's seal key.
///
/// The layout is Vault's (its raft snapshots carry the same two checksum files), so the `bao`
/// CLI's `operator raft snapshot save` accepts what vaultd sends. The plain checksums catch a
/// damaged or truncated file anywhere; the sealed copy proves the snapshot was made by a vault
/// holding the same seal key, which is what lets a restore proceed without `-force`.
public struct Snapshot: Sendable, Equatable {
    public var manifest: SnapshotManifest
    public var entries: [Entry]

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: [UInt8]
        public init(key: String, value: [UInt8]) {
            self.key = key
            self.value = value
        }
    }

    public init(manifest: SnapshotManifest, entries: [Entry]) {
        self.manifest = manifest
        self.entries = entries
    }

    static let manifestName = "meta.json"
    static let stateName = "state.bin"
    static let checksumsName = "SHA256SUMS"
    static let sealedChecksumsName = "SHA256SUMS.sealed"
    /// `state.bin` begins with this, so a file of another layout is never read as records.
    static let stateMagic = Array("vaultd-state-1\n".utf8)

    /// The file's bytes. `sealChecksums` encrypts the checksum lines under the seal key.
    public func archive(sealChecksums: ([UInt8]) async throws -> [UInt8]) async throws -> [UInt8] {
        var manifest = self.manifest
        manifest.entries = entries.count
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let meta = Array(try encoder.encode(manifest)) + [0x0a]
        let state = Self.encodeState(entries)
        let checksums = Self.checksumLines([(Self.manifestName, meta), (Self.stateName, state)])
        let tar = TarArchive.write([
            .init(name: Self.manifestName, contents: meta),
            .init(name: Self.stateName, contents: state),
            .init(name: Self.checksumsName, contents: checksums),
            // Last, as in Vault's: a client that sees it knows the stream was not cut short.
            .init(name: Self.sealedChecksumsName, contents: try await sealChecksums(checksums)),
        ], modificationTime: Int(Date().timeIntervalSince1970))
        var buffer = ByteBuffer(bytes: tar)
        let compressed = try buffer.compress(with: .gzip())
        return Array(compressed.readableBytesView)
    }

    /// The largest snapshot read, decompressed: a reader holds it in memory.
    public static let maximumSize = 1 << 30

    /// Reads `file`, checking every part against `SHA256SUMS`. Nothing about the seal key is
    /// known here: ``Opened/sealedChecksums`` is for the vault to open and compare.
    public static func open(_ file: [UInt8], maximumSize: Int = Snapshot.maximumSize) throws(SnapshotError) -> Opened {
        guard file.count >= 2, file[0] == 0x1f, file[1] == 0x8b else {
            throw SnapshotError(.damaged, "the file is not gzip-compressed: it is not a snapshot, or not the start of one")
        }
        let tar: [UInt8]
        do {
            var buffer = ByteBuffer(bytes: file)
            tar = Array(try buffer.decompress(with: .gzip(), maxSize: maximumSize).readableBytesView)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw SnapshotError(.tooLarge, "the snapshot decompresses to more than \(maximumSize) bytes")
        } catch {
            throw SnapshotError(.damaged, "the file does not decompress (\(error)): it is damaged or truncated")
        }
        // zlib stops at the end of the deflate stream without reading gzip's trailer; a file cut
        // inside the trailer would pass. The trailer is the CRC-32 and length of what it holds.
        let trailer = file.suffix(8)
        guard trailer.count == 8, UInt32(littleEndian: trailer.dropFirst(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) == UInt32(truncatingIfNeeded: tar.count),
              UInt32(littleEndian: trailer.prefix(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) == CRC32.checksum(tar) else {
            throw SnapshotError(.damaged, "the gzip trailer does not match the contents: the file is damaged or truncated")
        }
        var files = [String: [UInt8]]()
        for entry in try TarArchive.read(tar) { files[entry.name] = entry.contents }
        for name in [manifestName, stateName, checksumsName, sealedChecksumsName] where files[name] == nil {
            throw SnapshotError(.notASnapshot, "the archive has no \(name): it is not a vaultd snapshot, or it was cut short")
        }
        let meta = files[manifestName]!, state = files[stateName]!, checksums = files[checksumsName]!
        guard checksums == checksumLines([(manifestName, meta), (stateName, state)]) else {
            let firstLine = checksums.split(separator: 0x0a).first.map { Array($0) + [0x0a] }
            let bad = firstLine == checksumLines([(manifestName, meta)]) ? stateName : manifestName
            throw SnapshotError(.damaged, "\(bad) does not match its SHA-256 in SHA256SUMS: the snapshot is damaged")
        }
        let manifest: SnapshotManifest
        do { manifest = try JSONDecoder().decode(SnapshotManifest.self, from: Data(meta)) } catch {
            throw SnapshotError(.notASnapshot, "meta.json is not a vaultd snapshot manifest")
        }
        guard manifest.format == SnapshotManifest.formatName, manifest.version == 1 else {
            throw SnapshotError(.notASnapshot, "the snapshot is \(manifest.format) version \(manifest.version); this vaultd reads \(SnapshotManifest.formatName) version 1")
        }
        let entries = try decodeState(state)
        guard entries.count == manifest.entries else {
            throw SnapshotError(.damaged, "state.bin holds \(entries.count) records but meta.json says \(manifest.entries)")
        }
        return Opened(snapshot: Snapshot(manifest: manifest, entries: entries), checksums: checksums, sealedChecksums: files[sealedChecksumsName]!)
    }

    /// A snapshot read and checked, with the parts the vault checks against its seal key.
    public struct Opened: Sendable {
        public var snapshot: Snapshot
        /// `SHA256SUMS` as found (already checked against the files).
        public var checksums: [UInt8]
        /// `SHA256SUMS.sealed`: the same lines, encrypted under the seal key of the vault that
        /// made the snapshot.
        public var sealedChecksums: [UInt8]
    }

    static func checksumLines(_ files: [(String, [UInt8])]) -> [UInt8] {
        var text = ""
        for (name, contents) in files {
            text += SHA256.hash(data: contents).map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined() + "  " + name + "\n"
        }
        return Array(text.utf8)
    }

    static func encodeState(_ entries: [Entry]) -> [UInt8] {
        var state = stateMagic
        state.reserveCapacity(entries.reduce(state.count) { $0 + 8 + $1.key.utf8.count + $1.value.count })
        for entry in entries {
            appendLength(entry.key.utf8.count, to: &state)
            state += entry.key.utf8
            appendLength(entry.value.count, to: &state)
            state += entry.value
        }
        return state
    }

    static func decodeState(_ state: [UInt8]) throws(SnapshotError) -> [Entry] {
        guard state.starts(with: stateMagic) else {
            throw SnapshotError(.notASnapshot, "state.bin is not in vaultd's record layout")
        }
        var entries = [Entry]()
        var offset = stateMagic.count
        func field() throws(SnapshotError) -> [UInt8] {
            guard state.count - offset >= 4 else { throw SnapshotError(.damaged, "state.bin ends inside a record") }
            let length = state[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard state.count - offset >= length else { throw SnapshotError(.damaged, "state.bin ends inside a record") }
            defer { offset += length }
            return Array(state[offset..<offset + length])
        }
        while offset < state.count {
            let key = try field()
            let value = try field()
            entries.append(Entry(key: String(decoding: key, as: UTF8.self), value: value))
        }
        return entries
    }

    private static func appendLength(_ length: Int, to bytes: inout [UInt8]) {
        bytes += [UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
    }
}

/// `meta.json`: what a snapshot is of. `vaultctl operator snapshot inspect` prints it.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public static let formatName = "vaultd-snapshot"

    public var format: String
    public var version: Int
    /// When the snapshot was read, UTC, RFC 3339.
    public var createdAt: String
    /// The vault's `cluster_id` (seal-status): a snapshot of another vault needs `-force`.
    public var clusterID: String
    public var clusterName: String
    /// The validation hash of the seal key the snapshot's records are encrypted under.
    public var validationHash: String
    public var storageType: String
    public var vaultdVersion: String
    public var entries: Int

    public init(createdAt: String, clusterID: String, clusterName: String, validationHash: String, storageType: String, vaultdVersion: String) {
        self.format = Self.formatName
        self.version = 1
        self.createdAt = createdAt
        self.clusterID = clusterID
        self.clusterName = clusterName
        self.validationHash = validationHash
        self.storageType = storageType
        self.vaultdVersion = vaultdVersion
        self.entries = 0
    }

    enum CodingKeys: String, CodingKey {
        case format, version, entries
        case createdAt = "created_at"
        case clusterID = "cluster_id"
        case clusterName = "cluster_name"
        case validationHash = "validation_hash"
        case storageType = "storage_type"
        case vaultdVersion = "vaultd_version"
    }
}

/// CRC-32 (IEEE 802.3, as gzip's trailer uses it).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
