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

/// What vaultctl reads from vaultd's records (``ResourceSummary``, VaultWire) is in the records
/// as vaultd encodes them (VaultCore's types), field for field.
@Suite("records as clients read them")
struct RecordSummaryTests {
    static func decoded<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(json.utf8))
    }

    @Test("a vault, a secret and a key, encoded as vaultd answers, decode as ResourceSummary with the same fields")
    func summaries() throws {
        let vault = try Self.decoded(VaultRecord.self, #"{"id":"a","created_at":"2026-12-01T00:00:00Z","name":"ops","description":"d","owner":"root"}"#)
        let vaultSummary = try #require(WireJSON.decode(ResourceSummary.self, from: try WireJSON.encode(vault)))
        #expect(vaultSummary.id == vault.id && vaultSummary.name == vault.name && vaultSummary.description == vault.description)

        let secret = try Self.decoded(SecretRecord.self, #"{"id":"b","created_at":"2026-12-01T00:00:00Z","vault_id":"a","type":"generic","name":"db","description":"","value":"v"}"#)
        let secretSummary = try #require(WireJSON.decode(ResourceSummary.self, from: try WireJSON.encode(secret)))
        #expect(secretSummary.id == secret.id && secretSummary.name == secret.name && secretSummary.type == secret.type && secretSummary.value == secret.value)

        let key = try Self.decoded(KeyRecord.self, #"{"id":"c","created_at":"2026-12-01T00:00:00Z","vault_id":"a","type":"hdwallet","usage":"sign/verify","spec":"BIP39","name":"w","description":"","address":"0xab","public_key":"04","hd_derivation_path":"m/44'/60'/0'/0/0"}"#)
        let keySummary = try #require(WireJSON.decode(ResourceSummary.self, from: try WireJSON.encode(key)))
        #expect(keySummary.id == key.id && keySummary.spec == key.spec.rawValue && keySummary.usage == key.usage.rawValue && keySummary.type == key.type.rawValue)
        #expect(keySummary.address == key.address && keySummary.publicKey == key.publicKey && keySummary.hdDerivationPath == key.hdDerivationPath)
    }
}
