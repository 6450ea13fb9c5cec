import AWSAuth
import Foundation
import TestSupport
import Testing

/// AWS's own signing test suite (`Vectors/aws-sigv4/v4/`, Apache-2.0, see `Vectors/README.md`): for every
/// case, the canonical request, string to sign and signature, in header and query form.
@Suite("SigV4 against AWS's test suite")
struct SigV4SuiteTests {
    static let directory = TestEnvironment.packageRoot.appendingPathComponent("Tests/AWSAuthTests/Vectors/aws-sigv4/v4")

    static var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    struct Case {
        let request: SigV4.Request
        let credentials: AWSCredentials
        let region: String
        let service: String
        let date: Date
        let options: SigV4.Options
        let expiry: Int
    }

    static func load(_ name: String) throws -> Case {
        let folder = directory.appendingPathComponent(name)
        let context = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("context.json"))) as! [String: Any]
        let credentials = context["credentials"] as! [String: String]
        let raw = try String(contentsOf: folder.appendingPathComponent("request.txt"), encoding: .utf8)
        let (head, body) = raw.components(separatedBy: "\n\n").count > 1
            ? (raw.components(separatedBy: "\n\n")[0], raw.components(separatedBy: "\n\n").dropFirst().joined(separator: "\n\n"))
            : (raw, "")
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix(while: { $0 != " " }))
        let target = String(requestLine.dropFirst(method.count + 1).dropLast(" HTTP/1.1".count))
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var headers = [(name: String, value: String)]()
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let formatter = ISO8601DateFormatter()
        return Case(
            request: SigV4.Request(method: method, path: String(path[0]), query: path.count > 1 ? String(path[1]) : "", headers: headers, body: Array(body.utf8)),
            credentials: AWSCredentials(accessKeyID: credentials["access_key_id"]!, secretAccessKey: credentials["secret_access_key"]!, sessionToken: credentials["token"]),
            region: context["region"] as! String, service: context["service"] as! String,
            date: formatter.date(from: context["timestamp"] as! String)!,
            options: SigV4.Options(
                normalizePath: context["normalize"] as? Bool ?? true,
                signBody: context["sign_body"] as? Bool ?? false,
                omitSessionToken: context["omit_session_token"] as? Bool ?? false
            ),
            expiry: context["expiration_in_seconds"] as? Int ?? 3600
        )
    }

    static func expected(_ name: String, _ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name).appendingPathComponent(file), encoding: .utf8)
            .trimmingCharacters(in: .newlines)
    }

    @Test("the vendored suite is present")
    func present() {
        #expect(Self.cases.count >= 30, "no fixtures at \(Self.directory.path)")
    }

    @Test("header signing matches", arguments: cases)
    func header(_ name: String) throws {
        let c = try Self.load(name)
        let result = SigV4.sign(c.request, credentials: c.credentials, region: c.region, service: c.service, date: c.date, options: c.options)
        #expect(result.canonicalRequest == (try Self.expected(name, "header-canonical-request.txt")))
        #expect(result.stringToSign == (try Self.expected(name, "header-string-to-sign.txt")))
        #expect(result.signature == (try Self.expected(name, "header-signature.txt")))
    }

    @Test("query signing matches", arguments: cases)
    func query(_ name: String) throws {
        var c = try Self.load(name)
        var options = c.options
        options.queryExpiry = c.expiry
        options.signBody = false
        c = Case(request: c.request, credentials: c.credentials, region: c.region, service: c.service, date: c.date, options: options, expiry: c.expiry)
        let result = SigV4.sign(c.request, credentials: c.credentials, region: c.region, service: c.service, date: c.date, options: c.options)
        #expect(result.canonicalRequest == (try Self.expected(name, "query-canonical-request.txt")))
        #expect(result.stringToSign == (try Self.expected(name, "query-string-to-sign.txt")))
        #expect(result.signature == (try Self.expected(name, "query-signature.txt")))
    }
}
