import Foundation
import Testing
import VaultCore
import VaultWire

/// A secret read is answered by ``FlatJSONWriter`` rather than `WireJSON`'s `JSONEncoder`: the
/// bytes must be the same for every secret, whatever its strings hold.
@Suite("secret records on the wire")
struct SecretWireTests {
    static let strings = ["", "v/1", "x\"y\\z", "tab\tnl\n", "\u{01}\u{1F}\u{7F}", "é e\u{301} 日本 🔑", "</", String(repeating: "x", count: 4096)]

    @Test("the fast writer's bytes are WireJSON's, with and without a value, for every kind of string")
    func sameBytes() throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        for (index, text) in Self.strings.enumerated() {
            for withValue in [true, false] {
                var fields: [String: String] = [
                    "id": "0f3c2d1e-aaaa-4bbb-8ccc-123456789abc", "created_at": "2026-12-01T10:24:3\(index % 10)Z",
                    "vault_id": "1f3c2d1e-aaaa-4bbb-8ccc-123456789abc", "type": text, "name": Self.strings[(index + 3) % Self.strings.count], "description": text + "/",
                ]
                if withValue { fields["value"] = text }
                let secret = try decoder.decode(SecretRecord.self, from: JSONEncoder().encode(fields))
                #expect(secret.flatJSONWriter().bytes(escapingSlashes: false) == (try WireJSON.encode(secret)))
            }
        }
    }
}
