import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// The loads that killed vaultd and the agent (SIGILL from libdispatch once descriptors ran
/// out), slowloris, unfinished bodies, and seal operations over TCP. Loopback only; every loop
/// is bounded in count and time.
@Suite("vaultd and the agent under hostile load")
struct HostileLoadTests {
    static let agentBinary = TestEnvironment.executable("unseal-agent")

    @Test("60 s of 2,500 idle TCP connections and 20 pollers on vaultd and 1,500 on the agent's telemetry port, both at RLIMIT_NOFILE 1,024: both alive, unix-socket unseals answer, a restart in the flood is unsealed, RSS comes back")
    func descriptorFlood() async throws {
        let port = freePort(), telemetryPort = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n  http_read_header_timeout = \"8s\"\n}")
        defer { vaultd.remove() }
        try await vaultd.start(openFileLimit: 1024)
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let tokenFile = vaultd.directory.appendingPathComponent("root-token").path
        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile,
                                                     extra: "init { enabled = true  root_token = \"file:\(tokenFile)\" }\ntelemetry { address = \"127.0.0.1:\(telemetryPort)\" }")
        let agent = try ChildProcess("/usr/bin/prlimit", ["--nofile=1024:1024", "--", Self.agentBinary, "run", "--config", config],
                                     logPath: vaultd.directory.appendingPathComponent("agent.log").path)
        defer { kill(agent.pid, SIGKILL) }
        let client = try vaultd.client()
        try #require(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log)")
        let key = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        SecretLedger.record([key, token])
        let started = ContinuousClock.now
        let vaultFlood = TCPFlood(port: port, count: 2500), agentFlood = TCPFlood(port: telemetryPort, count: 1500)
        let vaultOpened = await vaultFlood.open()
        let vaultHeld = await vaultFlood.heldNow()
        let agentOpened = await agentFlood.open()
        print("flood: 2,500 TCP connects to vaultd, \(vaultOpened) connected, \(vaultHeld) held (the rest closed at once: over the TCP budget); 1,500 to the agent's telemetry, \(agentOpened) connected, \(agentFlood.held()) held")

        // Pollers, as in the crash report, for the rest of the 60 s.
        let pollers = Task {
            await withTaskGroup(of: (Int, Int).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        var (answered, refused) = (0, 0)
                        while ContinuousClock.now - started < .seconds(60) {
                            if (try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/v1/sys/health", timeout: .seconds(2)))) != nil {
                                answered += 1
                            } else { refused += 1 }
                            try? await Task.sleep(for: .milliseconds(100))
                        }
                        return (answered, refused)
                    }
                }
                return await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            }
        }

        // The door stays open: seal, then unseal over the unix socket, during the flood.
        var unseals = [Double]()
        var root = client
        root.token = token
        for _ in 0..<10 {
            try await root.seal()
            let before = ContinuousClock.now
            let answer = try await client.unseal(key: key)
            unseals.append((ContinuousClock.now - before) / .milliseconds(1))
            #expect(answer.sealed == false)
        }
        unseals.sort()
        print("unix-socket unseal during a 2,500-connection TCP flood: median \(unseals[5]) ms, max \(unseals.last!) ms (goal < 100 ms)")

        // A restart in the middle of the flood: the agent unseals the new process.
        try await vaultd.stop(signal: SIGKILL)
        vaultFlood.close()
        try await vaultd.start(openFileLimit: 1024)
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log.suffix(1500))")
        for _ in 0..<50 { _ = try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/v1/sys/health")) }
        let pid = vaultd.process!.processIdentifier
        let baseline = residentKilobytes(pid)
        let refill = TCPFlood(port: port, count: 2500)
        await refill.open()
        let heldAfterRestart = await refill.heldNow()
        // Idle connections are closed by http_read_header_timeout (8 s here).
        try await Task.sleep(for: .seconds(9))
        print("after a restart in the flood vaultd held \(heldAfterRestart) idle connections, \(await refill.heldNow()) after http_read_header_timeout")

        let (answered, refused) = await pollers.value
        print("pollers over 60 s: \(answered) answered, \(refused) refused or timed out")
        #expect(vaultd.process.map { !$0.hasEnded } == true, "vaultd died: \(vaultd.log(tail: 20))")
        #expect(agent.isRunning, "the agent died: \(agent.log.suffix(1500))")
        #expect(!vaultd.log().contains("Fatal error") && !agent.log.contains("Fatal error"))
        #expect(await (try? HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(telemetryPort)/healthz")))?.status == 200)

        refill.close()
        agentFlood.close()
        _ = await eventually { openDescriptors(pid) < 100 }
        for _ in 0..<50 { _ = try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/v1/sys/health")) }
        let after = residentKilobytes(pid)
        print("vaultd RSS: \(baseline) kB before the flood, \(after) kB after it closed (\(String(format: "%+.1f", Double(after - baseline) * 100 / Double(baseline))) %)")
        #expect(Double(after) <= Double(baseline) * 1.10, "RSS \(baseline) → \(after) kB")
    }

    @Test("slowloris and unfinished bodies are closed by the timeouts; a fresh unix-socket request still answers")
    func slowClients() async throws {
        let port = freePort()
        let vaultd = try VaultdHarness(listenerSettings: "http_read_header_timeout = \"1s\"\n  http_read_timeout = \"2s\"",
                                       extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n  http_read_header_timeout = \"1s\"\n  http_read_timeout = \"2s\"\n  max_connections = 300\n}")
        defer { vaultd.remove() }
        try await vaultd.start(openFileLimit: 1024)
        // Half a request head, never finished; and a 2 MiB body announced and never sent.
        let loris = TCPFlood(port: port, count: 200, partialHeader: true)
        await loris.open()
        let heldAtFirst = await loris.heldNow()
        let body = try await TestEnvironment.offThePool {
            loopbackConnection(port: port, sending: "PUT /v1/sys/init HTTP/1.1\r\nHost: x\r\nContent-Length: 2097000\r\n\r\n" + String(repeating: "x", count: 60_000))
        }
        defer { close(body) }
        #expect(await eventually { await loris.heldNow() == 0 }, "slowloris connections still held")
        #expect(await eventually {
            var pfd = pollfd(fd: body, events: Int16(POLLIN), revents: 0)
            return poll(&pfd, 1, 0) == 1   // closed by the server (EOF readable)
        }, "the unfinished body was not closed")
        print("slowloris: \(heldAtFirst) connections held at first, 0 after http_read_header_timeout; the unfinished body closed after http_read_timeout")
        #expect((try await vaultd.client().sealStatus()).initialized == false)
    }

    @Test("a vault that stops answering (SIGSTOP) turns the agent's /readyz to 503 within a bounded time, and back to 200 when it resumes")
    func frozenVault() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let port = freePort()
        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: vaultd.directory.appendingPathComponent("k").path,
                                                     extra: "init { enabled = true }\ntelemetry { address = \"127.0.0.1:\(port)\" }")
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        defer { kill(agent.pid, SIGKILL) }
        func readyz() async -> Int? { try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/readyz")).status }
        try #require(await eventually { await readyz() == 200 }, "\(agent.log)")
        let pid = vaultd.process!.processIdentifier
        kill(pid, SIGSTOP)
        let stopped = ContinuousClock.now
        let turned = await eventually { await readyz() == 503 }
        let after = ContinuousClock.now - stopped
        kill(pid, SIGCONT)
        #expect(turned)
        print("/readyz turned 503 \(after) after vaultd stopped answering (bound: 10 s watch + 5 s deadline)")
        #expect(await eventually { await readyz() == 200 }, "\(agent.log.suffix(800))")
    }

    @Test("seal operations answer on the unix socket only, unless the TCP listener sets allow_seal_operations")
    func sealDoor() async throws {
        let closed = freePort(), open = freePort()
        let vaultd = try VaultdHarness(extra: """
            listener "tcp" {
              address = "127.0.0.1:\(closed)"
              tls_disable = true
            }
            listener "tcp" {
              address = "127.0.0.1:\(open)"
              tls_disable = true
              allow_seal_operations = true
            }
            """)
        defer { vaultd.remove() }
        try await vaultd.start()
        let tcp = VaultClient(address: try VaultAddress("http://127.0.0.1:\(closed)"), timeout: .seconds(30))
        let phrase = try SealKey.generate().phrase()
        SecretLedger.record([phrase])
        for (path, body) in [("/v1/sys/init", ["seal_key": phrase] as [String: Any]), ("/v1/sys/unseal", ["key": phrase]), ("/v1/sys/unseal", ["reset": true])] {
            let (status, json) = try await tcp.send("PUT", path, body: body)
            #expect(status == 403, "\(path)")
            #expect(((json as? [String: Any])?["errors"] as? [String])?.first?.contains("allow_seal_operations = true") == true)
        }
        let (provide, _) = try await tcp.send("POST", "/api/v1/unseal", body: ["key": phrase])
        #expect(provide == 403)
        #expect((try await tcp.sealStatus()).initialized == false)
        // The opted-in listener takes them, as does the unix socket.
        let allowed = VaultClient(address: try VaultAddress("http://127.0.0.1:\(open)"), timeout: .seconds(30))
        _ = try await allowed.initializeRecorded(InitRequest(sealKey: phrase))
        try await vaultd.stop()
        try await vaultd.start()
        #expect(try await tcp.send("PUT", "/v1/sys/unseal", body: ["key": phrase]).status == 403)
        #expect(try await vaultd.client().unseal(key: phrase).sealed == false)
    }

    @Test("accept() failing with EMFILE on the TCP listener: no spinning, logged once with a count, the unix socket still answers, the waiting clients are served when it clears")
    func acceptEMFILE() async throws {
        let faults = FaultInjection(directory: FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString)"))
        try FileManager.default.createDirectory(at: faults.directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: faults.directory) }
        let port = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start(environment: try faults.environment)
        try faults.setAcceptFails(true)
        // Five clients whose connections the kernel completes but vaultd cannot accept yet.
        let clients = try await TestEnvironment.offThePool { () -> [Int32] in
            (0..<5).map { _ in loopbackConnection(port: port, sending: "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }
        }
        defer { clients.forEach { close($0) } }
        try #require(await eventually { faults.acceptFailures >= 2 })
        // Three seconds of a failing accept: NIO's backoff tries about once a second; a spinning
        // loop would try hundreds of thousands of times. Load only makes the count smaller.
        let before = faults.acceptFailures
        try await Task.sleep(for: .seconds(3))
        let during = faults.acceptFailures - before
        #expect(during <= 30, "accept retried \(during) times in 3 s: spinning")
        // The unix socket is a listener of its own: still served.
        #expect((try await vaultd.client().sealStatus()).initialized == false)
        let lines = vaultd.log().split(separator: "\n").filter { $0.contains("cannot accept connections") }
        #expect(lines.count == 1, "\(lines.prefix(3))")
        #expect(lines.first?.contains("Too many open files") == true, "\(lines.first ?? "")")

        try faults.setAcceptFails(false)
        let answers = try await TestEnvironment.offThePool { () -> [String] in
            clients.map { fd in
                var timeout = timeval(tv_sec: Int(TestEnvironment.hangGuard.components.seconds), tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 12)
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_WAITALL))
                return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : "no answer"
            }
        }
        print("accept failing with EMFILE: \(during) accept attempts in 3 s, \(lines.count) log line; afterwards \(answers.filter { $0.hasPrefix("HTTP/1.1 ") }.count) of 5 waiting clients answered")
        #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 ") }, "\(answers)")
    }
}
