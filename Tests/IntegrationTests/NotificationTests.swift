import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultWire

/// `notify "webhook"`: events signed with HMAC-SHA256 (checked by Python's hmac), retried after
/// a receiver's 500s, never holding up the unseal path behind a webhook that never answers, and
/// never carrying key material.
@Suite("unseal-agent notifications (notify \"webhook\")", .enabled(if: TestEnvironment.shouldRunOracleTests(), "needs the oracle Python: run scripts/test"))
struct NotificationTests {
    struct Received: Decodable {
        struct Body: Decodable { let event: String; let target: String; let time: String; let id: String; let source: String?; let message: String? }
        let status: Int
        let valid: Bool
        let eventHeader: String
        let body: Body
        enum CodingKeys: String, CodingKey { case status, valid, body, eventHeader = "event_header" }
    }

    static func received(_ receiver: OracleServer) async throws -> [Received] {
        let answer = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: receiver.url + "/log"))
        return try JSONDecoder().decode([Received].self, from: Data(answer.body))
    }

    static let secret = "webhook-secret-\(UUID().uuidString.prefix(8))"

    @Test("two vaultd, two webhooks (one never answers): init, unsealed, sealed and needs-a-fix arrive signed, retried after 500s, and the unseal never waits")
    func events() async throws {
        let receiver = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/webhook_receiver.py", arguments: [Self.secret, "2"])
        let hung = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/webhook_receiver.py", arguments: [Self.secret, "0", "hang"])
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let keyFile = a.directory.appendingPathComponent("unseal-key").path
        let config = try AgentClusterTests.config(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")], keyFile: keyFile, initBlock: """
            init { enabled = true }
            notify "webhook" {
              url    = "\(hung.url)/hook"
              secret = "\(Self.secret)"
              timeout = "30s"
            }
            notify "webhook" {
              url    = "\(receiver.url)/hook"
              secret = "\(Self.secret)"
              events = ["init", "unsealed", "sealed", "needs_fix"]
            }
            """)
        let agent = try AgentTests.startAgent(config, in: a.directory)
        defer { kill(agent.pid, SIGKILL) }
        let (clientA, clientB) = (try a.client(), try b.client())
        #expect(await eventually { await AgentTests.allUnsealed([clientA, clientB]) }, "\(agent.log.suffix(1500))")
        // A restart: sealed, then unsealed again.
        try await a.stop(signal: SIGKILL)
        try await a.start()
        #expect(await eventually { await AgentTests.isUnsealed(clientA) })
        let arrived = await eventually {
            let delivered = ((try? await Self.received(receiver)) ?? []).filter { $0.status == 200 }
            return delivered.filter { $0.body.event == "unsealed" && $0.body.target == a.address }.count >= 2
                && delivered.contains { $0.body.event == "sealed" && $0.body.target == a.address }
        }
        let all = try await Self.received(receiver)
        #expect(arrived, "\(all.map { "\($0.status) \($0.body.event) \($0.body.target)" })")
        #expect(all.prefix(2).allSatisfy { $0.status == 500 }, "the first two were answered 500")
        #expect(all.allSatisfy { $0.valid }, "a signature did not verify")
        #expect(all.allSatisfy { $0.eventHeader == $0.body.event })
        let delivered = all.filter { $0.status == 200 }
        #expect(Set(delivered.map(\.body.id)).count == delivered.count, "a notification was delivered twice")
        #expect(delivered.filter { $0.body.event == "init" }.count == 2, "\(delivered.map(\.body.event))")
        #expect(delivered.contains { $0.body.event == "unsealed" && $0.body.source == "file:\(keyFile)" })
        // What the notifications never carry.
        let phrase = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        SecretLedger.record([phrase, Self.secret])
        let bodies = delivered.map { "\($0.body.message ?? "") \($0.body.source ?? "")" }.joined()
        #expect(!bodies.contains(phrase.split(separator: " ").prefix(3).joined(separator: " ")))

        // A wrong key in the file: needs-a-fix, with the message.
        try await a.stop(signal: SIGKILL)
        let wrong = try SealKey.generate().phrase()
        SecretLedger.record([wrong])
        try wrong.write(toFile: keyFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        try await a.start()
        #expect(await eventually {
            ((try? await Self.received(receiver)) ?? []).contains { $0.status == 200 && $0.body.event == "needs_fix" && ($0.body.message ?? "").contains("refused the key") }
        }, "\(agent.log.suffix(1500))")
        #expect(!agent.log.contains(Self.secret))
    }

    @Test("storage_lost: one of two vaultd the agent initialised comes back with empty storage; the webhook that asks only for storage_lost gets it, signed, once, for that node; nothing is initialised again")
    func storageLost() async throws {
        let receiver = try await OracleServer.start(script: "Tests/IntegrationTests/Oracle/webhook_receiver.py", arguments: [Self.secret, "0"])
        let (a, b) = try await VaultdHarness.startedPair()
        defer { a.remove(); b.remove() }
        let keyFile = a.directory.appendingPathComponent("unseal-key").path
        let config = try AgentClusterTests.config(a.directory, vaults: [(a.address, "pair"), (b.address, "pair")], keyFile: keyFile, initBlock: """
            init { enabled = true }
            notify "webhook" {
              url    = "\(receiver.url)/hook"
              secret = "\(Self.secret)"
              events = ["storage_lost"]
            }
            """)
        let agent = try AgentTests.startAgent(config, in: a.directory)
        defer { kill(agent.pid, SIGKILL) }
        let (clientA, clientB) = (try a.client(), try b.client())
        try #require(await eventually { await AgentTests.allUnsealed([clientA, clientB]) }, "\(agent.log.suffix(1500))")
        SecretLedger.record([try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), Self.secret])

        // b's database is gone: it starts empty and reports itself uninitialised.
        try await b.stop(signal: SIGKILL)
        for suffix in ["", "-wal", "-shm"] { unlink(b.databasePath + suffix) }
        try await b.start()
        let arrived = await eventually {
            ((try? await Self.received(receiver)) ?? []).contains { $0.status == 200 && $0.body.event == "storage_lost" }
        }
        #expect(arrived, "\(agent.log.suffix(1500))")
        // Several more watch rounds: the alert stays one notification, and b stays uninitialised.
        try await Task.sleep(for: .seconds(2))
        let all = try await Self.received(receiver)
        #expect(all.count == 1 && all.allSatisfy { $0.valid && $0.eventHeader == "storage_lost" }, "\(all.map { "\($0.status) \($0.body.event) \($0.body.target)" })")
        #expect(all.first?.body.target == b.address)
        let message = all.first?.body.message ?? ""
        #expect(message.contains("storage was lost"), "\(message)")
        #expect((try await clientB.sealStatus()).initialized == false, "the agent initialised a vault that lost its storage")
        #expect(await AgentTests.isUnsealed(clientA))
        #expect(!agent.log.contains(Self.secret))
    }

    @Test("bad notify blocks are refused by name", arguments: [
        ("notify \"email\" { url = \"https://h/x\"  secret = \"0123456789abcdef\" }", "use notify \"webhook\""),
        ("notify \"webhook\" { url = \"https://h/x\" }", "secret"),
        ("notify \"webhook\" { url = \"https://h/x\"  secret = \"short\" }", "at least 16 characters"),
        ("notify \"webhook\" { url = \"ftp://h/x\"  secret = \"0123456789abcdef\" }", "expected https://"),
        ("notify \"webhook\" {\n  url = \"https://h/x\"\n  secret = \"0123456789abcdef\"\n  events = [\"unsealed\", \"rebooted\"]\n}", "unknown event \"rebooted\""),
        ("notify \"webhook\" {\n  url = \"https://h/x\"\n  secret = \"0123456789abcdef\"\n  retries = 3\n}", "unknown setting 'retries'"),
    ])
    func badBlocks(_ block: String, _ reason: String) async throws {
        let check = try await AgentConfigCheck.run("seal \"file\" { path = \"DIRECTORY/key\" }\n\(block)")
        #expect(check.status == 1 && check.stderr.contains(reason), "\(check.stderr)")
        #expect(!check.stderr.contains("0123456789abcdef"))
    }
}
