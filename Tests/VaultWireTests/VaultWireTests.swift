import Foundation
import Testing
import VaultWire

/// The wire types against the shapes servers really send (OpenBao 2.7's answers as recorded from
/// `bao server`), and the request-body reader's refusals.
@Suite("wire contract")
struct VaultWireTests {
    @Test("OpenBao's seal status decodes; vaultd's extension field is absent there")
    func openBaoSealStatus() throws {
        let body = #"{"type":"shamir","initialized":true,"sealed":true,"t":2,"n":3,"progress":1,"nonce":"2c1d","version":"2.7.2","build_date":"2025-01-01T00:00:00Z","migration":false,"recovery_seal":false,"storage_type":"raft","removed_from_cluster":false}"#
        let status = try #require(WireJSON.decode(SealStatusResponse.self, from: Array(body.utf8)))
        #expect(status.sealed && status.initialized && status.threshold == 2 && status.shares == 3 && status.progress == 1)
        #expect(status.storageType == "raft")
        #expect(!status.isVaultd)
    }

    @Test("only initialized and sealed are required; anything else missing takes a neutral value; without them it is not a seal status")
    func minimalSealStatus() {
        let minimal = WireJSON.decode(SealStatusResponse.self, from: Array(#"{"initialized":false,"sealed":true}"#.utf8))
        #expect(minimal?.threshold == 0 && minimal?.version == "" && minimal?.clusterID == nil)
        for body in [#"{"sealed":true}"#, #"{"initialized":"yes","sealed":true}"#, "[]", "", "{"] {
            #expect(WireJSON.decode(SealStatusResponse.self, from: Array(body.utf8)) == nil, "\(body)")
        }
    }

    @Test("vaultd's answers encode with sorted keys and unescaped slashes; absent optionals are left out")
    func encoding() throws {
        let answer = InitResponse(keys: ["ab"], keysBase64: ["q/8="], rootToken: "t")
        #expect(String(decoding: try WireJSON.encode(answer), as: UTF8.self) == #"{"keys":["ab"],"keys_base64":["q/8="],"root_token":"t"}"#)
        let request = InitRequest(secretShares: 3, secretThreshold: 2, sealKey: nil)
        #expect(String(decoding: try WireJSON.encode(request), as: UTF8.self) == #"{"secret_shares":3,"secret_threshold":2}"#)
        #expect(String(decoding: try WireJSON.encode(UnsealRequest(reset: true)), as: UTF8.self) == #"{"reset":true}"#)
        #expect(WireJSON.decode(ErrorResponse.self, from: Array(#"{"errors":["no"]}"#.utf8))?.errors == ["no"])
    }

    @Test("resource request bodies: the fields vaultd reads, optionals left out, options only when given")
    func resourceRequests() throws {
        func json(_ value: some Encodable) throws -> String { String(decoding: try WireJSON.encode(value), as: UTF8.self) }
        #expect(try json(KeyCreateRequest(spec: "Ed25519", name: "k", description: "", ephemeral: false)) == #"{"description":"","ephemeral":false,"name":"k","spec":"Ed25519"}"#)
        #expect(try json(KeyDataRequest(data: "hi", encoding: "utf8")) == #"{"data":"hi","encoding":"utf8"}"#)
        #expect(SignatureOptions(algorithm: nil, hdDerivationPath: nil) == nil)
        #expect(try json(SignatureRequest(message: "ab", options: SignatureOptions(algorithm: nil, hdDerivationPath: nil))) == #"{"message":"ab"}"#)
        #expect(try json(SignatureRequest(options: SignatureOptions(algorithm: nil, hdDerivationPath: "m/44'/60'/0'/0/1"))) == #"{"options":{"hdwallet":{"hd_derivation_path":"m/44'/60'/0'/0/1"}}}"#)
        #expect(try json(SignatureRequest(message: "ab", signature: "cd", spec: "RSA-2048", publicKey: "pk", options: SignatureOptions(algorithm: "PS256", hdDerivationPath: nil)))
                == #"{"message":"ab","options":{"algorithm":"PS256"},"public_key":"pk","signature":"cd","spec":"RSA-2048"}"#)
        #expect(try json(TokenCreateRequest(capabilities: ["read"], displayName: "ci", vaultIDs: nil)) == #"{"capabilities":["read"],"display_name":"ci"}"#)
        // A record as vaultd sends it: what vaultctl prints is there, whatever else the record has.
        let key = #"{"created_at":"2026-12-01T00:00:00Z","description":"","id":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","name":"k","public_key":"ab","spec":"Ed25519","type":"asymmetric","usage":"sign/verify","vault_id":"v"}"#
        let summary = try #require(WireJSON.decode(ResourceSummary.self, from: Array(key.utf8)))
        #expect(summary.id == "1b4e28ba-2fa1-11d2-883f-0016d3cca427" && summary.publicKey == "ab" && summary.usage == "sign/verify" && summary.value == nil)
        #expect(WireJSON.decode(ResourceSummary.self, from: Array(#"{"name":"no id"}"#.utf8)) == nil)
    }

    @Test("the init body as vaultd reads it: defaults, numbers as strings, and refusals that name the field", arguments: [
        (#"{"secret_shares":"three"}"#, "'secret_shares' must be an integer"),
        (#"{"secret_shares":true}"#, "'secret_shares' must be an integer"),
        (#"{"seal_key":7}"#, "'seal_key' must be a string"),
        (#"{"pgp_keys":["k"]}"#, "pgp_keys are not supported"),
        ("{", "not valid JSON"),
        ("[1]", "must be a JSON object"),
    ])
    func initBody(_ body: String, _ reason: String) {
        let error = #expect(throws: WireError.self) { _ = try InitRequest(body: RequestBody(Array(body.utf8))) }
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test("init body defaults, and the unseal body's intent")
    func defaultsAndIntent() throws {
        let request = try InitRequest(body: RequestBody(Array(#"{"secret_threshold":"2","secret_shares":3}"#.utf8)))
        #expect(request == InitRequest(secretShares: 3, secretThreshold: 2, recoveryShares: 0, recoveryThreshold: 0))
        #expect(try InitRequest(body: RequestBody([])) == InitRequest(secretShares: 1, secretThreshold: 1, recoveryShares: 0, recoveryThreshold: 0))
        #expect(try UnsealRequest.intent(of: RequestBody(Array(#"{"reset":true,"key":"x"}"#.utf8))) == .reset)
        #expect(try UnsealRequest.intent(of: RequestBody(Array(#"{"key":"k"}"#.utf8))) == .key("k"))
        let missing = #expect(throws: WireError.self) { _ = try UnsealRequest.intent(of: RequestBody(Array("{}".utf8))) }
        #expect(missing?.code == .badRequest)
        let empty = #expect(throws: WireError.self) { _ = try RequestBody([], allowEmpty: false) }
        #expect(empty?.message == "a JSON object body is required")
    }
}
