import LeanFoundation
import Testing

/// ``FlatJSON`` must write exactly what `JSONEncoder` writes (the wire's bytes do not change)
/// and read exactly what `JSONDecoder` reads, or decline.
@Suite("FlatJSON: flat string objects without the generic coders")
struct FlatJSONTests {
    struct Record: Codable, Equatable {
        var id: String
        var createdAt: Date
        var name: String
        var note: String?

        enum CodingKeys: String, CodingKey {
            case id, name, note
            case createdAt = "created_at"
        }

        var writer: FlatJSONWriter {
            var writer = FlatJSONWriter()
            writer.add("name", name)
            writer.add("id", id)
            writer.add("note", note)
            writer.add("created_at", createdAt)
            return writer
        }
    }

    static func encoder(escapingSlashes: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Strings that exercise every escape: each control character, quotes, backslashes,
    /// slashes, DEL, multi-byte and combining characters, emoji.
    static let strings: [String] = {
        var strings = ["", "plain", "a/b//c", "quote\"back\\slash", "tab\tnew\nret\rform\u{0C}bs\u{08}", "del\u{7F}",
                       "é and e\u{301}", "日本語", "👩‍👩‍👧 🔑", "</script>", "\u{2028}\u{2029}", "{\"nested\": [1]}"]
        strings += (0..<0x20).map { "c\(Character(Unicode.Scalar(UInt8($0))))c" }
        return strings
    }()

    static let dates: [Date] = [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_764_583_473), Date(timeIntervalSince1970: 1_764_583_473.999),
        Date(timeIntervalSince1970: 1_764_583_473.5), Date(timeIntervalSince1970: 951_782_400.25) /* 2000-02-29 */, Date(timeIntervalSince1970: 4_102_444_799.9),
    ]

    @Test("the writer's bytes are JSONEncoder's (sorted keys, ISO 8601 dates), with and without escaped slashes", arguments: [true, false])
    func writerMatchesJSONEncoder(_ escapingSlashes: Bool) throws {
        let encoder = Self.encoder(escapingSlashes: escapingSlashes)
        for (index, text) in Self.strings.enumerated() {
            for date in Self.dates {
                let record = Record(id: text, createdAt: date, name: Self.strings[(index + 7) % Self.strings.count], note: index % 3 == 0 ? nil : text + "!")
                let expected = Array(try encoder.encode(record))
                let written = record.writer.bytes(escapingSlashes: escapingSlashes)
                #expect(written == expected, "\(String(decoding: written, as: UTF8.self)) vs \(String(decoding: expected, as: UTF8.self))")
            }
        }
    }

    @Test("the reader gives JSONDecoder's strings for whatever JSONEncoder wrote, escapes included")
    func readerMatchesJSONDecoder() throws {
        for escapingSlashes in [true, false] {
            for text in Self.strings {
                let json = Array(try Self.encoder(escapingSlashes: escapingSlashes).encode(["k": text, "other": "x/y"]))
                let fields = try #require(FlatJSON.parseObject(json))
                #expect(fields.dictionary == (try JSONDecoder().decode([String: String].self, from: Data(json))))
                #expect(fields["k"] == text)
            }
        }
        // Hand-written forms JSONDecoder takes: spaces, \u escapes, surrogate pairs, \/.
        let written = Array(#" { "a" : "\u00e9\ud83d\udd11\/" , "b":"" } "#.utf8)
        #expect(FlatJSON.parseObject(written)?.dictionary == ["a": "é🔑/", "b": ""])
        #expect(FlatJSON.parseObject(Array("{}".utf8))?.dictionary == [:])
    }

    @Test("anything but a flat object of strings is declined (nil), never misread")
    func declines() {
        let inputs = [
            "", "[]", "\"s\"", "{", #"{"a":1}"#, #"{"a":null}"#, #"{"a":true}"#, #"{"a":{"b":"c"}}"#, #"{"a":["b"]}"#,
            #"{"a":"b","a":"c"}"#, #"{"a":"b"} x"#, #"{"a":"b",}"#, #"{a:"b"}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#,
            #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#, "{\"a\":\"raw\ncontrol\"}", #"{"a":"unterminated}"#,
        ]
        for input in inputs { #expect(FlatJSON.parseObject(Array(input.utf8)) == nil, "\(input)") }
        #expect(FlatJSON.parseObject([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]) == nil, "bad UTF-8")
    }

    @Test("ISO 8601 dates: written as .iso8601 writes them; read only in that exact form")
    func dates() throws {
        for date in Self.dates {
            let text = FlatJSON.iso8601(date)
            let expected = try JSONDecoder().decode(String.self, from: Self.encoder(escapingSlashes: true).encode(date))
            #expect(text == expected)
            #expect(FlatJSON.parseISO8601(text) == Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
        }
        for other in ["2026-12-01T10:24:33+00:00", "2026-12-01T10:24:33.5Z", "2026-13-01T10:24:33Z", "2026-12-01 10:24:33Z", "yesterday"] {
            #expect(FlatJSON.parseISO8601(other) == nil, "\(other)")
        }
    }
}
