import Foundation
import HCL
import Testing

/// A typed configuration, decoded the way vaultd and the agent decode theirs.
private struct AgentSample: Equatable {
    struct Seal: Equatable {
        var kind: String
        var priority: Int
        var path: String?
        var context: [String: String]
    }

    var addresses: [String]
    var seals: [Seal]
    var initEnabled: Bool
    var shares: Int
    var retryMax: String?
    var uids: [Int]

    init(_ root: ConfigBody) throws(HCLError) {
        try root.checkKeys(["vault", "seal", "init", "retry", "allowed_uids"])
        addresses = []
        for vault in try root.blocks("vault", labels: 0) {
            try vault.body.checkKeys(["address"])
            addresses.append(try vault.body.requiredString("address"))
        }
        seals = []
        for seal in try root.blocks("seal", labels: 1) {
            try seal.body.checkKeys(["priority", "path", "encryption_context", "region"])
            let context = try seal.body.stringMap("encryption_context") ?? []
            seals.append(Seal(
                kind: seal.labels[0],
                priority: try seal.body.int("priority") ?? 100,
                path: try seal.body.string("path"),
                context: Dictionary(uniqueKeysWithValues: context.map { ($0.key, $0.value) })
            ))
        }
        let initBlock = try root.block("init")
        initEnabled = try initBlock?.bool("enabled") ?? false
        shares = try initBlock?.int("secret_shares") ?? 1
        retryMax = try root.block("retry")?.string("max")
        uids = try root.intList("allowed_uids") ?? []
    }
}

@Suite("Typed configuration")
struct ConfigBodyTests {
    static let hcl = """
        vault { address = "unix:///run/vaultd/vaultd.sock" }
        vault { address = "https://10.0.0.2:8200" }
        seal "awskms" {
          region = "us-east-1"
          encryption_context = { service = "vaultd" }
          priority = 1
        }
        seal "file" { path = "/run/secrets/unseal-key"  priority = "2" }
        init { enabled = true  secret_shares = 3 }
        retry { max = "30s" }
        allowed_uids = [998, 1000]
        """

    static let json = """
        {
          "vault": [{"address": "unix:///run/vaultd/vaultd.sock"}, {"address": "https://10.0.0.2:8200"}],
          "seal": {
            "awskms": {"region": "us-east-1", "encryption_context": {"service": "vaultd"}, "priority": 1},
            "file": [{"path": "/run/secrets/unseal-key", "priority": 2}]
          },
          "init": {"enabled": "true", "secret_shares": 3},
          "retry": {"max": "30s"},
          "allowed_uids": [998, 1000]
        }
        """

    @Test("HCL and its JSON form decode to the same typed configuration")
    func sameConfig() throws {
        let fromHCL = try AgentSample(try HCLDocument(parsing: Self.hcl, file: "agent.hcl").root)
        let fromJSON = try AgentSample(try HCLDocument(parsing: Self.json, file: "agent.json").root)
        #expect(fromHCL == fromJSON)
        #expect(fromHCL.addresses.count == 2)
        #expect(fromHCL.seals.map(\.kind) == ["awskms", "file"])
        #expect(fromHCL.seals[1].priority == 2)
        #expect(fromHCL.seals[0].context == ["service": "vaultd"])
        #expect(fromHCL.initEnabled && fromHCL.shares == 3)
        #expect(fromHCL.uids == [998, 1000])
    }

    static func decodeError(_ text: String, file: String = "agent.hcl") -> HCLError? {
        do {
            _ = try AgentSample(try HCLDocument(parsing: text, file: file).root)
            return nil
        } catch {
            return error
        }
    }

    @Test("typed errors name the file, line, column, block and setting")
    func typedErrors() throws {
        let cases: [(String, String)] = [
            ("seal \"file\" {\n  priority = \"high\"\n}", "agent.hcl:2:14: seal \"file\": priority: expected an integer, found a string"),
            ("seal \"file\" {\n  pth = \"/x\"\n}", "agent.hcl:2:3: seal \"file\": unknown setting 'pth' (did you mean 'path'?)"),
            ("vault {}", "agent.hcl:1:1: vault: the setting 'address' (a string) is required"),
            ("seal { path = \"/x\" }", "agent.hcl:1:1: a 'seal' block takes one label, found 0 (e.g. seal \"name\" { … })"),
            ("init { enabled = \"maybe\" }", "agent.hcl:1:18: init: enabled: expected true or false, found a string"),
            ("init {}\ninit {}", "agent.hcl:2:1: only one 'init' block is allowed (the first is at 1:1)"),
            ("allowed_uids = [998, \"x\"]", "agent.hcl:1:22: allowed_uids[1]: expected an integer, found a string"),
            ("seal \"aws\" { encryption_context = { a = 1 } }", "agent.hcl:1:41: seal \"aws\": encryption_context.a: expected a string, found a number"),
            ("retry = 5", "agent.hcl:1:9: retry: expected a block (an object), found a number"),
            ("bogus = 1", "agent.hcl:1:1: unknown setting 'bogus'; expected one of: vault, seal, init, retry, allowed_uids"),
        ]
        for (text, expected) in cases {
            let error = try #require(Self.decodeError(text), "decoded without error: \(text)")
            #expect(error.description == expected)
        }
    }

    @Test("JSON errors are positioned too")
    func jsonErrors() throws {
        let cases: [(String, String)] = [
            ("{\"seal\": {\"file\": {\"priority\": \"x\"}}}", "agent.json:1:32: seal \"file\": priority: expected an integer, found a string"),
            ("{\"vault\": [}", "agent.json:1:12: expected a JSON value, found '}'"),
            ("{\"a\": 1,}", "agent.json:1:9: expected a quoted key in the object opened at 1:1, found '}'"),
            ("{\"a\": 1} trailing", "agent.json:1:10: expected the end of the file after the configuration object, found 't'"),
            ("{\"a\": 1, \"a\": 2}", "agent.json:1:10: the key \"a\" appears twice in this object (first at 1:2)"),
            ("{\"a\": \"\\ud800\"}", "agent.json:1:7: this string ends in half of a surrogate pair"),
        ]
        for (text, expected) in cases {
            let error = try #require(Self.decodeError(text, file: "agent.json"), "decoded without error: \(text)")
            #expect(error.description == expected)
        }
    }

    @Test("a file that cannot be read, or is not UTF-8, is an error naming it")
    func files() throws {
        let missing = #expect(throws: HCLError.self) { _ = try HCLDocument(contentsOf: "/nonexistent/agent.hcl") }
        #expect(missing?.code == .io)
        #expect(missing?.description.contains("/nonexistent/agent.hcl") == true)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).hcl").path
        try Data([0x61, 0x20, 0x3d, 0x20, 0x31, 0x0a, 0x62, 0x20, 0x3d, 0x20, 0x22, 0xff, 0x22]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let invalid = #expect(throws: HCLError.self) { _ = try HCLDocument(contentsOf: path) }
        #expect(invalid?.location.line == 2)
        #expect(invalid?.message.contains("UTF-8") == true)
    }
}
