import Foundation
import TestSupport
import VaultClientTestSupport
import Testing

/// Logs as a collector reads them: `log_format = "json"` gives one object per line with a UTC
/// millisecond `@timestamp` and typed values; text lines carry the same timestamp.
@Suite("log output")
struct LogOutputTests {
    @Test("log_format = json: one object per line, millisecond UTC timestamps, numbers and bools typed; text lines timestamped alike")
    func jsonLines() async throws {
        let vaultd = try VaultdHarness(extra: "log_format = \"json\"")
        defer { vaultd.remove() }
        try await vaultd.start()
        _ = try await vaultd.client().send("GET", "/v1/sys/health")
        try await vaultd.stop()
        let lines = vaultd.log().split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count >= 3, "\(vaultd.log())")
        var sawNumber = false
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let timestamp = try #require(object["@timestamp"] as? String)
            #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(timestamp)")
            if object["status"] is Int || object["ms"] is Int { sawNumber = true }
            #expect((object["status"] as? String) == nil, "status logged as a string: \(line)")
        }
        #expect(sawNumber, "no typed number among \(lines.count) lines")

        let text = try VaultdHarness()
        defer { text.remove() }
        try await text.start()
        let first = try #require(text.log().split(separator: "\n").first { $0.contains("vaultd started") })
        #expect(first.prefixMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\s/#) != nil, "\(first)")
    }
}
