import Foundation
import Testing
@testable import VaultSnapshot

@Suite("snapshot file")
struct SnapshotFileTests {
    static let manifest = SnapshotManifest(createdAt: "2026-11-30T12:00:00Z", clusterID: "c-1", clusterName: "vaultd-cluster-1",
                                           validationHash: "ab12", storageType: "sqlite", vaultdVersion: "test")
    static let entries = (0..<200).map { Snapshot.Entry(key: "vaults/\($0)", value: (0..<($0 * 7 % 300)).map { UInt8(truncatingIfNeeded: $0 &* 31) }) }
        + [Snapshot.Entry(key: "empty", value: [])]
    /// Stands in for the vault's seal: reversible, so a test can tell it was applied.
    static func seal(_ lines: [UInt8]) -> [UInt8] { lines.map { $0 ^ 0x5a } }

    static func file() async throws -> [UInt8] {
        try await Snapshot(manifest: manifest, entries: entries).archive(sealChecksums: seal)
    }

    @Test("written then read: the same records, manifest and checksums, the sealed copy last")
    func roundTrip() async throws {
        let opened = try Snapshot.open(try await Self.file(), maximumSize: 1 << 24)
        #expect(opened.snapshot.entries == Self.entries)
        var expected = Self.manifest
        expected.entries = Self.entries.count
        #expect(opened.snapshot.manifest == expected)
        #expect(Self.seal(opened.sealedChecksums) == opened.checksums)
        #expect(String(decoding: opened.checksums, as: UTF8.self).hasSuffix("  state.bin\n"))
    }

    @Test("Python's tarfile and gzip read it as Vault's layout: meta.json, state.bin, SHA256SUMS, SHA256SUMS.sealed last")
    func readableByTar() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.snap").path
        try Data(try await Self.file()).write(to: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import tarfile, sys, hashlib
            with tarfile.open(sys.argv[1], "r:gz") as t:
                names = t.getnames()
                sums = t.extractfile("SHA256SUMS").read().decode()
                state = t.extractfile("state.bin").read()
            assert hashlib.sha256(state).hexdigest() + "  state.bin" in sums
            print(",".join(names))
            """, path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "meta.json,state.bin,SHA256SUMS,SHA256SUMS.sealed\n")
    }

    @Test("every flipped byte and every truncation is refused as damaged, never read as other records")
    func damage() async throws {
        let file = try await Self.file()
        var refused = 0
        for offset in stride(from: 0, to: file.count, by: max(1, file.count / 300)) {
            var flipped = file
            flipped[offset] ^= 0x01
            do {
                // Accepted only where nothing is read from (gzip's time and OS fields, deflate's
                // padding bits), or in the sealed copy, which the vault then fails to open: never
                // as other records.
                let opened = try Snapshot.open(flipped, maximumSize: 1 << 24)
                var manifest = Self.manifest
                manifest.entries = Self.entries.count
                #expect(opened.snapshot.entries == Self.entries && opened.snapshot.manifest == manifest, "a flip at byte \(offset) was read as other records")
            } catch { refused += 1 }
        }
        for length in [0, 1, 2, 10, file.count / 3, file.count / 2, file.count - 9, file.count - 1] {
            #expect((try? Snapshot.open(Array(file.prefix(length)), maximumSize: 1 << 24)) == nil, "a file cut at \(length) of \(file.count) bytes was read")
        }
        #expect(refused > 250)
    }

    @Test("a file that decompresses past the limit is refused before it is read")
    func bounded() async throws {
        let file = try await Self.file()
        let error = #expect(throws: SnapshotError.self) { try Snapshot.open(file, maximumSize: 4096) }
        #expect(error?.code == .tooLarge)
    }

    @Test("other archives and files: named as not a snapshot or damaged")
    func foreign() throws {
        #expect(throws: SnapshotError.self) { try Snapshot.open(Array("hello".utf8), maximumSize: 1 << 20) }
        let other = TarArchive.write([.init(name: "meta.json", contents: Array("{}".utf8))], modificationTime: 0)
        let buffer = try GzipForTests.compress(other)
        let error = #expect(throws: SnapshotError.self) { try Snapshot.open(buffer, maximumSize: 1 << 20) }
        #expect(error?.code == .notASnapshot)
    }

    @Test("tar headers: the writer's checksum and sizes are what the reader expects")
    func tar() throws {
        let entries = [TarArchive.Entry(name: "a", contents: []), TarArchive.Entry(name: "b", contents: Array(repeating: 7, count: 513))]
        let archive = TarArchive.write(entries, modificationTime: 1_700_000_000)
        #expect(archive.count == 512 + 512 + 1024 + 1024)
        #expect(try TarArchive.read(archive) == entries)
    }
}

enum GzipForTests {
    static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        // gzip through Python: the writer under test is not its own oracle.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import gzip,sys; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read()))"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }
}
