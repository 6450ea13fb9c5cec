import DurableFile
import SealSourceCore
import Foundation
import HCL
import SealSources
import TestSupport
import Testing
@testable import UnsealAgent

@Suite("stores never replace material; the cluster setting")
struct StoreIfAbsentTests {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("64 writers race for an empty seal file: exactly one stores, the others are handed the winner's material")
    func racingWriters() async throws {
        let directory = try Self.directory()
        defer { SecretLedger.removeDirectory(directory) }
        for round in 0..<10 {
            let source = FileSealSource(path: directory.appendingPathComponent("key-\(round)").path)
            let outcomes = try await withThrowingTaskGroup(of: (String, StoreOutcome).self) { group in
                for writer in 0..<64 {
                    group.addTask { ("writer-\(writer)", try await source.storeIfAbsent(.key("writer-\(writer)"))) }
                }
                var all = [(String, StoreOutcome)]()
                for try await outcome in group { all.append(outcome) }
                return all
            }
            let winners = outcomes.filter { $0.1 == .stored }
            try #require(winners.count == 1)
            let held = try await source.fetch()
            #expect(held == .key(winners[0].0))
            #expect(outcomes.allSatisfy { $0.1 == .stored || $0.1 == .alreadyHeld(held) })
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(!names.contains { $0.contains(".tmp-") }, "\(names)")
        }
    }

    @Test("replace(with:) overwrites; storeIfAbsent keeps what is there")
    func replaceIsExplicit() async throws {
        let directory = try Self.directory()
        defer { SecretLedger.removeDirectory(directory) }
        let source = FileSealSource(path: directory.appendingPathComponent("key").path)
        #expect(try await source.storeIfAbsent(.shares(["a", "b"])) == .stored)
        #expect(try await source.storeIfAbsent(.key("other")) == .alreadyHeld(.shares(["a", "b"])))
        try await source.replace(with: .key("new"))
        #expect(try await source.fetch() == .key("new"))
        #expect(source.initLockPath == directory.appendingPathComponent(".key.init-lock").path)
    }

    @Test("temporaries a killed writer left are removed; a live writer's are kept")
    func staleTemporaries() async throws {
        let directory = try Self.directory()
        defer { SecretLedger.removeDirectory(directory) }
        let source = FileSealSource(path: directory.appendingPathComponent("key").path)
        let dead = directory.appendingPathComponent(".key.tmp-4194000-1").path, live = directory.appendingPathComponent(".key.tmp-\(getpid())-2").path
        for path in [dead, live] { _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8)) }
        #expect(source.removeStaleTemporaries() == 1)
        #expect(!FileManager.default.fileExists(atPath: dead) && FileManager.default.fileExists(atPath: live))
    }

    @Test("the init lock excludes a second holder until the first is released")
    func initLock() async throws {
        let directory = try Self.directory()
        defer { SecretLedger.removeDirectory(directory) }
        let path = directory.appendingPathComponent(".k.init-lock").path
        var first: InitLock? = try await InitLock.acquire(path)
        #expect(InitLock.isHeld(path))
        let second = Task { try await InitLock.acquire(path, poll: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(InitLock.isHeld(path))
        first = nil
        _ = first
        _ = try await second.value   // acquired once the first was released
    }

    static func load(_ text: String) async throws -> AgentConfiguration {
        let directory = try Self.directory()
        defer { SecretLedger.removeDirectory(directory) }
        let path = directory.appendingPathComponent("agent.hcl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try await AgentConfiguration.load(path: path, environment: [:])
    }

    @Test("cluster: peers are the other nodes of the same cluster; a bad name or a repeated address is an error naming the setting")
    func clusterSetting() async throws {
        let configuration = try await Self.load("""
            vault { address = "unix:///a.sock"  cluster = "x" }
            vault { address = "unix:///b.sock"  cluster = "x" }
            vault { address = "unix:///c.sock"  cluster = "x" }
            seal "file" { path = "/nonexistent/k" }
            init { enabled = true }
            """)
        #expect(configuration.peers(of: configuration.targets[1]).map(\.address) == ["unix:///a.sock", "unix:///c.sock"])
        let lone = try await Self.load("vault { address = \"unix:///a.sock\" }\nseal \"file\" { path = \"/k\" }")
        #expect(lone.peers(of: lone.targets[0]).isEmpty)

        let empty = await #expect(throws: HCLError.self) {
            _ = try await Self.load("vault { address = \"unix:///a.sock\"  cluster = \" \" }\nseal \"file\" { path = \"/k\" }")
        }
        #expect(empty?.message.contains("cluster") == true)
        let repeated = await #expect(throws: HCLError.self) {
            _ = try await Self.load("vault { address = \"unix:///a.sock\" }\nvault { address = \"unix:///a.sock\" }\nseal \"file\" { path = \"/k\" }")
        }
        #expect(repeated?.message.contains("watched already") == true)
    }

    @Test("log_level and log_format in any case, as Vault writes them; an unknown level is an error naming the setting")
    func logSettings() async throws {
        let base = "vault { address = \"unix:///a.sock\" }\nseal \"file\" { path = \"/k\" }\n"
        let configuration = try await Self.load(base + "log_level = \"INFO\"\nlog_format = \"JSON\"")
        #expect(configuration.logLevel == "info" && configuration.logFormat == "json")
        let loud = await #expect(throws: HCLError.self) { _ = try await Self.load(base + "log_level = \"loud\"") }
        #expect(loud?.message.contains("log_level") == true, "\(loud?.message ?? "")")
    }
}
