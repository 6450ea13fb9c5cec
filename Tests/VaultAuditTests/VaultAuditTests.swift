import Foundation
import SealKit
import Testing
import VaultAudit

@Suite("audit log: options, hashing, files and the broker")
struct VaultAuditTests {
    static func key(_ byte: UInt8 = 7, count: Int = 32) throws -> CloakedKey {
        try CloakedKey(SecretBytes(copying: [UInt8](repeating: byte, count: count)))
    }

    static func temporaryPath(_ name: String = "audit.log") throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vaultaudit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent(name).path
    }

    static func facts(token: String? = "vd.the-token", body: String = #"{"name":"db","value":"hunter2","pin":1234,"enabled":true}"#) -> AuditRequestFacts {
        AuditRequestFacts(id: "req-1", operation: "update", path: "api/v1/vaults/v1/secrets", token: token,
                          caller: .init(accessor: "acc-1", displayName: "app", policies: ["read"]), body: Array(body.utf8), query: [:], remoteAddress: "unix")
    }

    @Test("HMAC-SHA256 as RFC 4231's first test case gives it, in Vault's notation")
    func rfc4231() throws {
        let hash = try Self.key(0x0b, count: 20).key.reveal { AuditHasher(key: $0).hash("Hi There") }
        #expect(hash == "hmac-sha256:b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test("every string and number of a body is hashed; field names, booleans and nulls stay")
    func hashing() throws {
        let value = try #require(AuditValue(json: Array(#"{"a":"x","n":12,"b":false,"z":null,"l":["y",1.5]}"#.utf8)))
        let hashed = try Self.key().key.reveal { value.hashed(by: AuditHasher(key: $0)) }
        guard case .object(let entries) = hashed else { Issue.record("not an object"); return }
        #expect(entries["b"] == .bool(false) && entries["z"] == .null)
        guard case .string(let a) = entries["a"], case .string(let n) = entries["n"], case .array(let list) = entries["l"] else { Issue.record("\(hashed)"); return }
        #expect(a.hasPrefix("hmac-sha256:") && n.hasPrefix("hmac-sha256:") && a != n)
        #expect(list.allSatisfy { if case .string(let text) = $0 { text.hasPrefix("hmac-sha256:") } else { false } })
    }

    @Test("options: defaults, and each bad value refused by name")
    func options() throws {
        let defaults = try FileAuditOptions(["file_path": "/var/log/audit.log"])
        #expect(defaults.fsync && defaults.mode == 0o600 && defaults.hmacAccessor && defaults.prefix.isEmpty)
        #expect(try FileAuditOptions(["file_path": "stdout"]).destination == .stdout)
        #expect(try FileAuditOptions(["file_path": "/x", "mode": "0000"]).mode == nil)
        for (options, fragment) in [
            ([:], "file_path"), (["file_path": "relative.log"], "absolute"), (["file_path": "/x", "log_raw": "true"], "log_raw"),
            (["file_path": "/x", "mode": "rw"], "mode"), (["file_path": "/x", "fsync": "sometimes"], "fsync"),
            (["file_path": "/x", "format": "jsonx"], "format"), (["file_path": "/x", "filter": "a"], "filter"),
        ] as [([String: String], String)] {
            #expect(throws: AuditError.self, "\(options)") { try FileAuditOptions(options) }
            do { _ = try FileAuditOptions(options) } catch { #expect(error.message.contains(fragment), "\(error.message)") }
        }
    }

    @Test("a request and its response: tokens, accessors and values only as HMACs; errors in the clear")
    func entries() throws {
        let facts = Self.facts()
        let answer = AuditResponseFacts(status: 200, body: Array(#"{"data":{"value":"hunter2"}}"#.utf8), errors: [])
        let key = try Self.key()
        let lines = try key.key.reveal { raw -> [String] in
            let hasher = AuditHasher(key: raw)
            return [
                String(decoding: try AuditEntry.request(facts, at: Date(), hasher: hasher, hashAccessor: true).line(prefix: ""), as: UTF8.self),
                String(decoding: try AuditEntry.response(facts, answer, at: Date(), hasher: hasher, hashAccessor: true).line(prefix: "P"), as: UTF8.self),
                String(decoding: try AuditEntry.response(facts, AuditResponseFacts(status: 403, body: [], errors: ["permission denied"]), at: Date(),
                                                         hasher: hasher, hashAccessor: false).line(prefix: ""), as: UTF8.self),
            ]
        }
        for line in lines {
            #expect(line.hasSuffix("\n") && !line.dropLast().contains("\n"))
            for secret in ["vd.the-token", "hunter2", "1234"] { #expect(!line.contains(secret), "\(secret) in \(line)") }
            #expect(line.contains(#""path":"api/v1/vaults/v1/secrets""#) && line.contains(#""id":"req-1""#))
        }
        #expect(lines[0].contains(#""type":"request""#) && lines[0].contains(#""enabled":true"#) && !lines[0].contains("acc-1"))
        #expect(lines[1].hasPrefix("P{") && lines[1].contains(#""status_code":200"#))
        #expect(lines[2].contains(#""error":"permission denied""#) && lines[2].contains(#""accessor":"acc-1""#))
    }

    @Test("a file device appends, reopens at its path after a rename (logrotate), and fails on a full disk")
    func file() async throws {
        let path = try Self.temporaryPath()
        let file = try AuditFile(FileAuditOptions(["file_path": path]))
        try await file.append(Array("one\n".utf8))
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try await file.append(Array("two\n".utf8))
        try file.reopen()
        try await file.append(Array("three\n".utf8))
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8) == "one\ntwo\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "three\n")

        let full = try AuditFile(FileAuditOptions(["file_path": "/dev/full"]))
        await #expect(throws: AuditError.self) { try await full.append(Array("x\n".utf8)) }
        #expect(throws: AuditError.self) { try AuditFile(FileAuditOptions(["file_path": "/nonexistent-dir/audit.log"])) }
    }

    @Test("500 concurrent appends with fsync: every line written once and whole")
    func concurrentAppends() async throws {
        let path = try Self.temporaryPath()
        let file = try AuditFile(FileAuditOptions(["file_path": path]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask { try await file.append(Array("line-\(index)-\(String(repeating: "x", count: index % 97))\n".utf8)) }
            }
            try await group.waitForAll()
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let expected = Set((0..<500).map { "line-\($0)-\(String(repeating: "x", count: $0 % 97))" })
        #expect(lines.count == 500 && Set(lines.map(String.init)) == expected)
    }

    @Test("the broker: recorded when any device writes, refused when none can, nothing to do with none")
    func broker() async throws {
        let broker = AuditBroker()
        let make = { (hasher: AuditHasher, hashAccessor: Bool) in AuditEntry.request(Self.facts(), at: Date(), hasher: hasher, hashAccessor: hashAccessor) }
        let nothingEnabled = await broker.record(make)
        #expect(nothingEnabled.isRecorded)

        let good = try Self.temporaryPath()
        let failures = broker.install([
            .init(path: "full/", options: try FileAuditOptions(["file_path": "/dev/full"]), key: try Self.key(1)),
            .init(path: "good/", options: try FileAuditOptions(["file_path": good]), key: try Self.key(2)),
            .init(path: "missing/", options: try FileAuditOptions(["file_path": "/nonexistent-dir/a.log"]), key: try Self.key(3)),
        ])
        #expect(failures.map(\.path) == ["missing/"])
        let outcome = await broker.record(make)
        #expect(outcome.isRecorded && outcome.recorded == 1 && outcome.failures.count == 2)
        #expect(try String(contentsOfFile: good, encoding: .utf8).split(separator: "\n").count == 1)
        // Each device its own key: the same token hashes differently in each.
        let one = try #require(try broker.hash("vd.the-token", device: "full/"))
        let two = try #require(try broker.hash("vd.the-token", device: "good/"))
        let written = try String(contentsOfFile: good, encoding: .utf8)
        #expect(one != two && written.contains(two) && !written.contains(one))
        #expect(try broker.hash("x", device: "nope/") == nil)

        broker.install([.init(path: "full/", options: try FileAuditOptions(["file_path": "/dev/full"]), key: try Self.key(1))])
        let refused = await broker.record(make)
        #expect(!refused.isRecorded)
        broker.removeAll()
        let none = await broker.record(make)
        #expect(broker.isEmpty && none.isRecorded)
    }
}
