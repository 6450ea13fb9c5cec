import LeanFoundation
import Testing

@Suite("AnyJSON: JSONSerialization's shapes without the full Foundation")
struct AnyJSONTests {
    @Test("types: integers as Int, fractions as Double, true/false only as Bool, null, nesting")
    func types() throws {
        let object = try #require(AnyJSON.object(Array(#"{"i": 3, "big": 9007199254740993, "d": 1.5, "e": 1e3, "t": true, "f": false, "n": null, "s": "a\"\u00e9/", "a": [1, "x", {"k": []}]}"#.utf8)))
        #expect(object["i"] as? Int == 3)
        #expect(object["big"] as? Int == 9_007_199_254_740_993)
        #expect(object["d"] as? Double == 1.5)
        #expect(object["e"] as? Int == 1000, "an integral value is an Int, exponent or not")
        #expect(object["t"] as? Bool == true)
        #expect(object["f"] as? Bool == false)
        #expect(object["i"] as? Bool == nil, "a number is never a Bool")
        #expect(object["t"] as? Int == nil, "a Bool is never a number")
        #expect(object["n"] is AnyJSON.Null)
        #expect(object["s"] as? String == "a\"é/")
        let array = try #require(object["a"] as? [Any])
        #expect(array.count == 3 && array[1] as? String == "x")
        #expect(((array[2] as? [String: Any])?["k"] as? [Any])?.isEmpty == true)
    }

    @Test("malformed or truncated input is nil, never a crash")
    func malformed() {
        for text in ["", "{", #"{"a": }"#, "[1, 2", #""unterminated"#, "tru", "nan", "{'a': 1}"] {
            #expect(AnyJSON.parse(Array(text.utf8)) == nil, "\(text)")
        }
        #expect(AnyJSON.object(Array("[1]".utf8)) == nil)
    }

    @Test("encoding: round trip, sorted keys, slashes unescaped, non-JSON values refused")
    func encoding() throws {
        let value: [String: Any] = ["b": [1, 2.5, "x/y", true, AnyJSON.null], "a": ["k": "v"], "c": false]
        let sorted = String(decoding: try AnyJSON.encode(value, sortedKeys: true), as: UTF8.self)
        #expect(sorted == #"{"a":{"k":"v"},"b":[1,2.5,"x/y",true,null],"c":false}"#)
        let back = try #require(AnyJSON.object(try AnyJSON.encode(value)))
        #expect((back["b"] as? [Any])?.count == 5)
        #expect(back["c"] as? Bool == false)
        #expect(throws: AnyJSON.EncodingError.self) { _ = try AnyJSON.encode(["when": Date()]) }
    }
}

@Suite("UTC timestamps, trimming, percent-encoding")
struct TextAndTimeTests {
    @Test("ISO 8601 / RFC 3339: Z, fractions, offsets; malformed is nil")
    func iso8601() {
        #expect(UTCTime.parseISO8601("2026-11-24T04:41:50Z")?.timeIntervalSince1970 == 1_795_495_310)
        #expect(UTCTime.parseISO8601("2026-11-24T04:41:50.250Z")?.timeIntervalSince1970 == 1_795_495_310.25)
        #expect(UTCTime.parseISO8601("2026-11-24T05:41:50+01:00")?.timeIntervalSince1970 == 1_795_495_310)
        #expect(UTCTime.parseISO8601("2026-11-23T23:41:50-05:00")?.timeIntervalSince1970 == 1_795_495_310)
        #expect(UTCTime.parseISO8601("1970-01-01T00:00:00Z")?.timeIntervalSince1970 == 0)
        for bad in ["", "2026-11-24", "2026-11-24T04:41:50", "2026-13-24T04:41:50Z", "2026-11-24T24:41:50Z", "2026-11-24T04:41:50Zjunk", "2026-11-24T04:41:50.Z", "2026-11-24 04:41:50Z"] {
            #expect(UTCTime.parseISO8601(bad) == nil, "\(bad)")
        }
    }

    @Test("SigV4's compact form and HTTP dates")
    func compactAndHTTP() {
        let date = Date(timeIntervalSince1970: 1_795_495_310.9)
        #expect(UTCTime.compact(date) == "20261124T044150Z")
        #expect(UTCTime.compact(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(UTCTime.parseHTTPDate("Tue, 24 Nov 2026 04:41:50 GMT")?.timeIntervalSince1970 == 1_795_495_310)
        #expect(UTCTime.parseHTTPDate("Tue, 24 Foo 2026 04:41:50 GMT") == nil)
        #expect(UTCTime.parseHTTPDate("24 Nov 2026 04:41:50 GMT") == nil)
    }

    @Test("trimmed and percent-encoding")
    func text() {
        #expect(" \t a b \n".trimmed == "a b")
        #expect("   ".trimmed == "")
        #expect("x"[...].trimmed == "x")
        #expect(PercentEncoding.encode("a b/c~é+") == "a%20b%2Fc~%C3%A9%2B")
    }
}

@Suite("child processes with a deadline")
struct ProcessRunnerTests {
    @Test("output, input, exit status and the signal that ended a child")
    func outcomes() async throws {
        let echo = try await ProcessRunner.run("/bin/sh", ["-c", "printf hello; exit 3"], timeout: .seconds(10))
        #expect(echo.status == 3 && echo.output == Array("hello".utf8))
        let cat = try await ProcessRunner.run("/bin/cat", [], input: Array(repeating: 7, count: 200_000), timeout: .seconds(10))
        #expect(cat.status == 0 && cat.output.count == 200_000)
        let killed = try await ProcessRunner.run("/bin/sh", ["-c", "kill -9 $$"], timeout: .seconds(10))
        #expect(killed.status == 128 + 9)
        // Input that the child never reads is not a SIGPIPE for this process.
        let ignoring = try await ProcessRunner.run("/bin/true", [], input: Array(repeating: 1, count: 1 << 20), timeout: .seconds(10))
        #expect(ignoring.status == 0)
        // Signals blocked or ignored here are at their defaults in the child.
        let mask = try await ProcessRunner.run("/bin/sh", ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"], timeout: .seconds(10))
        #expect(String(decoding: mask.output, as: UTF8.self).contains("SigBlk:\t0000000000000000"), "\(String(decoding: mask.output, as: UTF8.self))")
    }

    @Test("a child that hangs is killed at the deadline; one that cannot start says why")
    func failures() async throws {
        // `.timedOut` is the event: the runner killed the child at its deadline (the child
        // itself would have run 30 s and exited 0). How long that took is not asserted.
        let hung = await #expect(throws: ProcessRunner.Failure.self) {
            _ = try await ProcessRunner.run("/bin/sleep", ["30"], timeout: .milliseconds(300))
        }
        #expect(hung?.kind == .timedOut)
        let missing = await #expect(throws: ProcessRunner.Failure.self) {
            _ = try await ProcessRunner.run("/nonexistent/helper", [], timeout: .seconds(5))
        }
        #expect(missing?.kind == .cannotStart)
        #expect(missing?.description.contains("/nonexistent/helper") == true)
        let chatty = await #expect(throws: ProcessRunner.Failure.self) {
            _ = try await ProcessRunner.run("/bin/sh", ["-c", "head -c 100000 /dev/zero"], timeout: .seconds(10), maxOutput: 1000)
        }
        #expect(chatty?.kind == .outputTooLarge)
    }
}
