import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient
import VaultClientTestSupport
import VaultWire

/// vaultd as a process: dev mode, readiness notification, memory locking, core dumps.
@Suite("vaultd process")
struct VaultdProcessTests {
    @Test("--dev: initialised, unsealed, prints the phrase, hash and root token; unsealerkey allowed")
    func devMode() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.executable("vaultd"))
        process.arguments = ["server", "--dev", "--dev-listen-address", "127.0.0.1:0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { ChildExit.kill(process.processIdentifier) }

        // Read until the root token line (on a thread of its own, not the cooperative pool).
        let collector = PipeCollector(output.fileHandleForReading)
        _ = await eventually {
            let text = collector.text
            return collector.isFinished || (text.contains("Root token:") && text.contains("\n\n", after: "Root token:"))
        }
        let text = collector.text
        #expect(text.contains("development only"))
        let phrase = try #require(Self.value(text, "Seal key phrase:"))
        let hash = try #require(Self.value(text, "Validation hash:"))
        let token = try #require(Self.value(text, "Root token:"))
        #expect(try SealKey(parsing: phrase).validationHash().description == hash)
        let socket = try #require(text.split(separator: "\n").first { $0.contains("VAULT_ADDR=unix://") }).split(separator: "=")[1]
        let tcp = try #require(text.split(separator: "\n").first { $0.contains("VAULT_ADDR=http://") }).split(separator: "=")[1]

        for address in [String(socket), String(tcp)] {
            let client = VaultClient(address: try VaultAddress(address), token: token)
            #expect(try await client.sealStatus().sealed == false)
            let created = try await client.call("POST", "/api/v1/unsealerkey") as? [String: Any]
            let key = try #require(created?["key"] as? String)
            #expect(try SealKey(parsing: key).validationHash().description == created?["validation_hash"] as? String)
        }
    }

    static func value(_ text: String, _ label: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(label) }.map { $0.dropFirst(label.count).trimmingCharacters(in: .whitespaces) }
    }

    @Test("a second vaultd on the same SQLite file refuses to start, naming the holder; after kill -9 of the first, a new one starts",
          .enabled(if: !VaultdHarness.isPostgreSQL, "SQLite's lock file"))
    func oneServerPerSQLiteFile() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let second = try await TestEnvironment.run(TestEnvironment.executable("vaultd"), ["server", "--config", vaultd.configPath])
        #expect(second.status != 0)
        let pid = try #require(vaultd.process?.processIdentifier)
        #expect(second.stderr.contains("in use by another vaultd (pid \(pid))"), "\(second.stderr)")
        #expect(try await vaultd.client().sealStatus().initialized == false, "the first still serves")

        // The lock is the kernel's: it goes with the process, however that ends.
        _ = try await vaultd.stop(signal: SIGKILL)
        try await vaultd.start()
        #expect(try await vaultd.client().sealStatus().initialized == false)
    }

    @Test("unsealerkey is refused outside dev mode")
    func unsealerKeyRefused() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        try await vaultd.start()
        let (status, _) = try await vaultd.client().send("POST", "/api/v1/unsealerkey")
        #expect(status == 403)
    }

    @Test("READY=1 reaches $NOTIFY_SOCKET; while unsealed key pages are locked (VmLck > 0) and core dumps are off")
    func processHygiene() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let notifyPath = vaultd.directory.appendingPathComponent("notify.sock").path
        // A datagram socket standing in for systemd.
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        receiver.arguments = ["python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(sys.argv[1])
            s.settimeout(20)
            print(s.recv(4096).decode(), flush=True)
            """, notifyPath]
        let received = Pipe()
        receiver.standardOutput = received
        try receiver.run()
        defer { ChildExit.kill(receiver.processIdentifier) }
        let collector = PipeCollector(received.fileHandleForReading)
        try #require(await eventually { FileManager.default.fileExists(atPath: notifyPath) }, "the notify receiver did not bind")

        try await vaultd.start(environment: ["NOTIFY_SOCKET": notifyPath])
        _ = await eventually { collector.isFinished }
        let message = collector.text
        #expect(message.contains("READY=1"))

        let result = try await vaultd.client().initializeRecorded()
        _ = try await vaultd.client().unseal(key: result.keys.first ?? "")
        let pid = try #require(vaultd.process?.processIdentifier)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let locked = status.split(separator: "\n").first { $0.hasPrefix("VmLck:") }.flatMap { Int($0.split(whereSeparator: \.isWhitespace)[1]) }
        #expect((locked ?? 0) > 0, "VmLck: \(locked ?? -1) kB")
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
        #expect(core?.split(whereSeparator: \.isWhitespace).dropFirst(4).first == "0", "\(core ?? "")")
        print("vaultd pid \(pid): VmLck \(locked ?? -1) kB, \(core ?? "")")
    }
}

extension String {
    /// Whether `needle` occurs somewhere after the first `marker`.
    func contains(_ needle: String, after marker: String) -> Bool {
        guard let range = range(of: marker) else { return false }
        return self[range.upperBound...].contains(needle)
    }
}
