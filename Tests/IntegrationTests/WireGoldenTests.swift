import Foundation
import HTTPTransport
import SealKit
import TestSupport
import Testing
import VaultClient

/// vaultd's answers on the wire, byte for byte, against responses recorded from it
/// (`Golden/vaultd-wire.txt`): the contract Vault clients (bao, hvac, the agent) rely on must not
/// move when the code behind it does. Values that differ per run (keys, tokens, ids, times) are
/// replaced by placeholders before comparing; everything else — key order, spacing, escaping,
/// status codes — must match. `RECORD_GOLDEN=1` rewrites the file.
@Suite("vaultd wire compatibility")
struct WireGoldenTests {
    static let goldenPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/vaultd-wire.txt").path

    struct Exchange {
        let title: String
        let method: String
        let path: String
        let body: String?
        let token: Bool
        let tcp: Bool
        init(_ title: String, _ method: String, _ path: String, body: String? = nil, token: Bool = false, tcp: Bool = false) {
            self.title = title; self.method = method; self.path = path; self.body = body; self.token = token; self.tcp = tcp
        }
    }

    /// One answer as recorded: status, then the body with per-run values replaced.
    static func transcript(_ exchange: Exchange, status: Int, body: [UInt8], secrets: [String: String]) -> String {
        var text = "\(exchange.method) \(exchange.path)\(exchange.tcp ? " (tcp)" : "")\n\(status)\n" + String(decoding: body, as: UTF8.self)
        for (value, placeholder) in secrets.sorted(by: { $0.key.count > $1.key.count }) where !value.isEmpty {
            text = text.replacingOccurrences(of: value, with: placeholder)
        }
        let patterns = [
            (#"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#, "<uuid>"),
            (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"#, "<time>"),
            (#""server_time_utc":\d+"#, #""server_time_utc":<now>"#),
            (#""creation_time":\d+"#, #""creation_time":<unix>"#),
        ]
        for (pattern, replacement) in patterns {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        // The transcript was recorded on SQLite; the PostgreSQL pass must match it in every other
        // byte (the storage type is the one field the storage decides).
        if VaultdHarness.isPostgreSQL {
            text = text.replacingOccurrences(of: #""storage_type":"postgresql""#, with: #""storage_type":"sqlite""#)
        }
        return "## \(exchange.title)\n\(text)\n"
    }

    @Test("sys and resource answers are byte-identical to the recorded ones")
    func wire() async throws {
        let port = freePort()
        let vaultd = try VaultdHarness(extra: "listener \"tcp\" {\n  address = \"127.0.0.1:\(port)\"\n  tls_disable = true\n}")
        defer { vaultd.remove() }
        try await vaultd.start()
        let phrase = try SealKey.generate().phrase(), wrong = try SealKey.generate().phrase()
        SecretLedger.record([phrase, wrong])
        var secrets = [phrase: "<seal-key>", wrong: "<wrong-key>"]
        var token: String?
        var output = ""

        func run(_ exchange: Exchange) async throws -> Any? {
            var headers = [("Accept", "application/json")]
            if exchange.token, let token { headers.append(("X-Vault-Token", token)) }
            if exchange.body != nil { headers.append(("Content-Type", "application/json")) }
            let url = exchange.tcp ? "http://127.0.0.1:\(port)\(exchange.path)" : "http://localhost\(exchange.path)"
            let response = try await HTTPClient.send(HTTPClientRequest(
                method: exchange.method, url: url, headers: headers, body: exchange.body.map { Array($0.utf8) },
                unixSocketPath: exchange.tcp ? nil : vaultd.socketPath, timeout: .seconds(60)))
            let json = try? JSONSerialization.jsonObject(with: Data(response.body))
            if let object = json as? [String: Any] {
                for key in ["root_token", "validation_hash", "cluster_id", "cluster_name"] {
                    if let value = object[key] as? String { secrets[value] = "<\(key)>" }
                }
                for key in ["keys", "keys_base64", "recovery_keys", "recovery_keys_base64"] {
                    for (index, value) in (object[key] as? [String] ?? []).enumerated() { secrets[value] = "<\(key)-\(index)>" }
                }
                if let value = object["root_token"] as? String { SecretLedger.record([value]); token = value }
            }
            output += Self.transcript(exchange, status: response.status, body: response.body, secrets: secrets)
            return json
        }

        _ = try await run(Exchange("seal status, uninitialised", "GET", "/v1/sys/seal-status"))
        _ = try await run(Exchange("init status", "GET", "/v1/sys/init"))
        _ = try await run(Exchange("health, uninitialised", "GET", "/v1/sys/health"))
        _ = try await run(Exchange("leader", "GET", "/v1/sys/leader"))
        _ = try await run(Exchange("init over TCP: refused", "PUT", "/v1/sys/init", body: #"{"seal_key":"x"}"#, tcp: true))
        _ = try await run(Exchange("init, a bad body", "PUT", "/v1/sys/init", body: #"{"secret_shares":"three"}"#))
        _ = try await run(Exchange("init, not JSON", "PUT", "/v1/sys/init", body: "{"))
        _ = try await run(Exchange("init with a seal key", "PUT", "/v1/sys/init", body: #"{"seal_key":"\#(phrase)"}"#))
        _ = try await run(Exchange("init, again", "PUT", "/v1/sys/init", body: #"{"seal_key":"\#(phrase)"}"#))
        _ = try await run(Exchange("seal status, sealed", "GET", "/v1/sys/seal-status"))
        _ = try await run(Exchange("health, sealed", "GET", "/v1/sys/health"))
        _ = try await run(Exchange("health, sealed, sealedcode", "GET", "/v1/sys/health?sealedcode=299"))
        _ = try await run(Exchange("unseal, no key", "PUT", "/v1/sys/unseal", body: "{}"))
        _ = try await run(Exchange("unseal, a wrong key", "PUT", "/v1/sys/unseal", body: #"{"key":"\#(wrong)"}"#))
        _ = try await run(Exchange("unseal, not a key", "PUT", "/v1/sys/unseal", body: #"{"key":"not a key"}"#))
        _ = try await run(Exchange("unseal, reset", "PUT", "/v1/sys/unseal", body: #"{"reset":true}"#))
        _ = try await run(Exchange("unseal", "PUT", "/v1/sys/unseal", body: #"{"key":"\#(phrase)"}"#))
        _ = try await run(Exchange("seal status, unsealed", "GET", "/v1/sys/seal-status"))
        _ = try await run(Exchange("health, active", "GET", "/v1/sys/health"))
        _ = try await run(Exchange("health over TCP", "GET", "/v1/sys/health", tcp: true))
        _ = try await run(Exchange("token lookup-self", "GET", "/v1/auth/token/lookup-self", token: true))
        _ = try await run(Exchange("token lookup-self, no token", "GET", "/v1/auth/token/lookup-self"))
        _ = try await run(Exchange("no such path", "GET", "/v1/sys/nothing-here"))
        _ = try await run(Exchange("method not allowed", "DELETE", "/v1/sys/seal-status"))
        let vault = try await run(Exchange("create a vault", "POST", "/api/v1/vaults", body: #"{"name":"golden","description":"a/b \"quoted\" é"}"#, token: true))
        let vaultID = try #require((vault as? [String: Any])?["id"] as? String)
        _ = try await run(Exchange("list vaults", "GET", "/api/v1/vaults", token: true))
        _ = try await run(Exchange("create a secret", "POST", "/api/v1/vaults/\(vaultID)/secrets", body: #"{"name":"s","value":"v/1"}"#, token: true))
        _ = try await run(Exchange("create a secret, no value", "POST", "/api/v1/vaults/\(vaultID)/secrets", body: #"{"name":"s"}"#, token: true))
        _ = try await run(Exchange("create a key", "POST", "/api/v1/vaults/\(vaultID)/keys", body: #"{"name":"k","spec":"AES-256-GCM","type":"symmetric","usage":"encrypt/decrypt"}"#, token: true))
        _ = try await run(Exchange("seal", "PUT", "/v1/sys/seal", token: true))
        _ = try await run(Exchange("seal status after seal", "GET", "/v1/sys/seal-status"))

        if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
            try output.write(toFile: Self.goldenPath, atomically: true, encoding: .utf8)
            print("recorded \(Self.goldenPath)")
            return
        }
        let golden = try String(contentsOfFile: Self.goldenPath, encoding: .utf8)
        let expected = golden.components(separatedBy: "\n## "), actual = output.components(separatedBy: "\n## ")
        for (want, got) in zip(expected, actual) where want != got {
            Issue.record("wire answer changed:\n--- recorded\n\(want)\n--- now\n\(got)")
        }
        #expect(expected.count == actual.count)
    }
}
