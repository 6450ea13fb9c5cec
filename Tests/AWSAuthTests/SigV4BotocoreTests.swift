import AWSAuth
import Foundation
import TestSupport
import Testing

/// 600 random requests signed identically to botocore's `SigV4Auth`.
@Suite("SigV4 against botocore")
struct SigV4BotocoreTests {
    func randomString(_ alphabet: [Character], _ length: ClosedRange<Int>) -> String {
        String((0..<Int.random(in: length)).map { _ in alphabet.randomElement()! })
    }

    @Test(
        "600 randomized requests: same Authorization header as botocore",
        .enabled(if: TestEnvironment.shouldRunOracleTests("botocore"), "needs botocore: run scripts/test")
    )
    func randomized() async throws {
        let segmentAlphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~ @$!*'(),;=:+é漢")
        let queryAlphabet = Array("abcXYZ0129-_.~ /&=+%?#@é漢")
        let headerAlphabet = Array("abcdefABCDEF0123456789 -_.,;:/\"'()=+*&^%$#@!~")
        let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        let services = ["kms", "sts", "service", "execute-api"]
        let regions = ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"]

        var cases = [(request: SigV4.Request, credentials: AWSCredentials, region: String, service: String, date: Date, json: String)]()
        for _ in 0..<600 {
            let host = "\(randomString(Array("abcdefghij"), 3...10)).example.amazonaws.com"
            var path = "/" + (0..<Int.random(in: 0...4)).map { _ in randomString(segmentAlphabet, 1...8) }.joined(separator: "/")
            if Bool.random() && path != "/" { path += "/" }
            var usedKeys = Set<String>()
            var params = [(String, String)]()
            for _ in 0..<Int.random(in: 0...4) {
                let key = randomString(queryAlphabet, 1...6)
                if usedKeys.insert(key).inserted { params.append((key, randomString(queryAlphabet, 0...8))) }
            }
            var headers: [(name: String, value: String)] = [("Host", host)]
            var usedHeaders = Set<String>(["host"])
            for _ in 0..<Int.random(in: 0...4) {
                let name = "X-Test-" + randomString(Array("abcdefXYZ-"), 1...6)
                if usedHeaders.insert(name.lowercased()).inserted {
                    headers.append((name, "  " + randomString(headerAlphabet, 1...20) + "   "))
                }
            }
            let body = (0..<Int.random(in: 0...64)).map { _ in UInt8.random(in: 0...255) }
            let credentials = AWSCredentials(
                accessKeyID: "AKIA" + randomString(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 16...16),
                secretAccessKey: randomString(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"), 40...40),
                sessionToken: Bool.random() ? randomString(Array("abcdefXYZ0123456789+/="), 20...60) : nil
            )
            let date = Date(timeIntervalSince1970: Double(Int.random(in: 1_400_000_000...1_900_000_000)))
            let region = regions.randomElement()!, service = services.randomElement()!
            let query = params.map { "\(SigV4.encode($0.0))=\(SigV4.encode($0.1))" }.joined(separator: "&")
            let request = SigV4.Request(method: methods.randomElement()!, path: path, query: query, headers: headers, body: body)
            let object: [String: Any] = [
                "method": request.method, "host": host, "path": path,
                "params": params.map { [$0.0, $0.1] }, "headers": headers.map { [$0.name, $0.value] },
                "body": body.map { String(format: "%02x", $0) }.joined(),
                "access_key": credentials.accessKeyID, "secret_key": credentials.secretAccessKey,
                "token": credentials.sessionToken as Any? ?? NSNull(),
                "region": region, "service": service, "timestamp": SigV4.timestamp(date),
            ]
            let json = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            cases.append((request, credentials, region, service, date, json))
        }

        let script = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("Tests/AWSAuthTests/Oracle/botocore_sign.py"), encoding: .utf8)
        let result = try await TestEnvironment.runOracle(script, input: cases.map(\.json).joined(separator: "\n") + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        let answers = result.lines
        try #require(answers.count == cases.count)
        var mismatches = 0
        for (c, line) in zip(cases, answers) {
            let answer = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: String]
            let ours = SigV4.sign(c.request, credentials: c.credentials, region: c.region, service: c.service, date: c.date)
            let authorization = ours.headersToAdd.first { $0.name == "Authorization" }?.value
            if authorization != answer["authorization"] {
                mismatches += 1
                if mismatches <= 3 {
                    Issue.record("mismatch\nours:\n\(ours.canonicalRequest)\nbotocore:\n\(answer["canonical"] ?? "")")
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) differ")
    }
}
