import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// Guessing seal keys: limited per peer and across every TCP peer, on the monotonic clock; the
/// agent's uid on the unix socket is limited by nothing but its own keys; refused peers do not
/// flood the log.
@Suite("unseal rate limits and refused peers")
struct UnsealRateLimitTests {
    /// One `PUT /v1/sys/unseal` from source address `source` to 127.0.0.1:`port`; the status.
    static func guess(from source: String, port: Int, key: String) -> Int {
        let body = "{\"key\":\"\(key)\"}"
        let fd = loopbackConnection(port: port, from: source, sending: "PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 12 else { return -1 }
        return Int(String(decoding: buffer[9..<12], as: UTF8.self)) ?? -1
    }

    @Test("250 TCP source addresses × 5 wrong keys: the guesses evaluated stay within the TCP-wide budget; the agent's uid still unseals at once")
    func manySources() async throws {
        let port = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n  allow_seal_operations = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase(), wrong = try SealKey.generate().phrase()
        SecretLedger.record([phrase, wrong])
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        try await vaultd.stop()
        try await vaultd.start()

        let started = ContinuousClock.now
        let statuses = try await TestEnvironment.offThePool { () -> [Int] in
            var statuses = [Int]()
            for round in 0..<5 {
                for host in 2...251 { statuses.append(Self.guess(from: "127.0.0.\(host)", port: port, key: wrong)); _ = round }
            }
            return statuses
        }
        let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
        let evaluated = statuses.filter { $0 == 400 }.count, limited = statuses.filter { $0 == 429 }.count
        print("1,250 wrong keys from 250 TCP addresses in \(String(format: "%.1f", seconds)) s: \(evaluated) evaluated (\(String(format: "%.1f", Double(evaluated) / seconds)) guesses/s), \(limited) refused with 429")
        #expect(evaluated + limited == 1250, "\(Set(statuses))")
        #expect(Double(evaluated) <= 30 + seconds / 2 + 1, "the TCP-wide budget is 30 a minute")
        // The agent's door: a right key over the unix socket is not charged for any of that.
        let answer = try await vaultd.client().unseal(key: phrase)
        #expect(answer.sealed == false)
    }

    @Test("a refused unix-socket peer reconnecting 2,000 times is logged once a minute, with a count")
    func refusedPeerLog() async throws {
        // Readiness through a TCP listener: the unix socket refuses this test's uid.
        let port = freePort()
        let vaultd = try VaultdHarness(listenerSettings: "allowed_uids = [4242]", extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start(readiness: VaultClient(address: try VaultAddress("http://127.0.0.1:\(port)"), timeout: .seconds(30)))
        let flood = ConnectionFlood(socketPath: vaultd.socketPath, maxOpen: 20, limit: 2000)
        flood.start()
        _ = await eventually { flood.connected >= 2000 || flood.finished }
        flood.stop()
        let lines = vaultd.log().split(separator: "\n").filter { $0.contains("refused a unix-socket peer") }
        print("log lines for a refused peer connecting \(flood.connected) times: \(lines.count)")
        #expect(lines.count == 1, "\(lines.prefix(3))")
    }

    @Test("the wall clock stepped back an hour while the agent's uid waits out its own wrong keys: the right key is taken once the wait (1 s, monotonic) is over, never 'retry in 3601 s'")
    func wallClockStep() async throws {
        let faults = FaultInjection(directory: FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString)"))
        try FileManager.default.createDirectory(at: faults.directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: faults.directory) }
        try faults.setWallClockOffset(seconds: 0)
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start(environment: try faults.environment)
        let phrase = try SealKey.generate().phrase(), wrong = try SealKey.generate().phrase()
        SecretLedger.record([phrase, wrong])
        _ = try await vaultd.client().initializeRecorded(InitRequest(sealKey: phrase))
        try await vaultd.stop()
        try await vaultd.start(environment: try faults.environment)

        let client = try vaultd.client()
        for _ in 0..<5 {   // UnsealGuard.freeFailures: the fifth starts a 1 s wait
            let (status, _) = try await client.send("PUT", "/v1/sys/unseal", body: ["key": wrong])
            #expect(status == 400)
        }
        try faults.setWallClockOffset(seconds: -3600)
        var waits = [Int]()
        var unsealed = false
        for _ in 0..<200 where !unsealed {
            let (status, body) = try await client.send("PUT", "/v1/sys/unseal", body: ["key": phrase])
            if status == 429 {
                let message = ((body as? [String: Any])?["errors"] as? [String])?.first ?? ""
                waits.append(Int(message.split(separator: " ").dropLast().last ?? "") ?? -1)
                try await Task.sleep(for: .milliseconds(100))
            } else {
                #expect(status == 200)
                unsealed = (try await client.sealStatus()).sealed == false
            }
        }
        print("wall clock stepped back 1 h during a 1 s wait: \(waits.count) answers of 429, longest wait announced \(waits.max() ?? 0) s; unsealed: \(unsealed)")
        #expect(unsealed)
        #expect(waits.allSatisfy { (1...2).contains($0) }, "\(waits)")
        // The step reached vaultd: its log lines after it are stamped an hour back.
        let stamp = ISO8601DateFormatter()
        stamp.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamped = vaultd.log().split(separator: "\n").compactMap { stamp.date(from: String($0.prefix(24))) }
        #expect(stamped.contains { $0 < Date().addingTimeInterval(-3000) }, "vaultd's clock was not stepped")
    }
}
