import Foundation
import HTTPServerKit
import KeyKit
import NIOHTTP1
import SealKit
import VaultCore
import VaultWire

extension VaultAPI {
    /// Keys and what they do: `/api/v1/vaults/{id}/keys…` and the detached `/api/v1/verify`.
    mutating func addKeyRoutes() {
        let api = self
        let core = self.core

        route([.POST], "/api/v1/vaults/:id/keys") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .write)
            let body = try RequestBody(request.body, allowEmpty: false)
            let created = try await core.createKey(vaultID: vault.id, try Self.keyRequest(body))
            guard created.privateKey != nil || created.mnemonic != nil else {
                return JSONResponse.encode(created.record, status: .created)
            }
            return JSONResponse.encode(KeyCreatedResponse(record: created.record, privateKey: created.privateKey, mnemonic: created.mnemonic), status: .created)
        }
        route([.GET], "/api/v1/vaults/:id/keys") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .read)
            let spec = try request.query["spec"].map { spec throws(VaultError) in try VaultError.from { () throws(KeyKitError) in try KeySpec(parsing: spec) } }
            let type = try request.query["type"].map { text throws(VaultError) -> KeyType in
                guard let type = KeyType(rawValue: text.lowercased()) else {
                    throw VaultError(.unprocessable, "type: '\(text)' is not one of \(KeyType.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return type
            }
            return try Page(request).response(try await core.listKeys(vaultID: vault.id, spec: spec, type: type))
        }
        route([.GET], "/api/v1/vaults/:id/keys/:key") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .read)
            return JSONResponse.encode(try await core.key(vaultID: vault.id, keyID: parameters["key"]!))
        }
        route([.DELETE], "/api/v1/vaults/:id/keys/:key") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .write)
            try await core.deleteKey(vaultID: vault.id, keyID: parameters["key"]!)
            return JSONResponse.noContent()
        }

        route([.POST], "/api/v1/vaults/:id/keys/:key/encrypt") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .encrypt)
            let body = try RequestBody(request.body, allowEmpty: false)
            let plaintext = try Self.decodeData(try body.requiredString("data"), encoding: try body.string("encoding"))
            let nonce = try body.hex("nonce")
            let ciphertext = try await core.withKeyMaterial(vaultID: vault.id, keyID: parameters["key"]!, for: .encryptDecrypt, operation: "encrypt") {
                record, material throws(KeyKitError) in
                if nonce != nil && record.allowCallerNonce != true {
                    throw KeyKitError(.invalidInput, "nonce: this key chooses its own nonces; create it with allow_caller_nonce = true to pass one (a nonce used twice under one key reveals the XOR of the plaintexts and lets GCM tags be forged)")
                }
                return try KeyOperations.encrypt(record.spec, material: material, plaintext: plaintext, nonce: nonce)
            }
            return JSONResponse.encode(DataResponse(data: Hex.encode(ciphertext)))
        }
        route([.POST], "/api/v1/vaults/:id/keys/:key/decrypt") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .encrypt)
            let body = try RequestBody(request.body, allowEmpty: false)
            let ciphertext = try body.requiredHex("data")
            let encoding = try body.string("encoding")
            var plaintext = try await core.withKeyMaterial(vaultID: vault.id, keyID: parameters["key"]!, for: .encryptDecrypt, operation: "decrypt") {
                record, material throws(KeyKitError) in
                try KeyOperations.decrypt(record.spec, material: material, ciphertext: ciphertext)
            }
            defer { plaintext.wipe() }
            return JSONResponse.encode(DataResponse(data: try Self.encodeData(plaintext, encoding: encoding)))
        }
        route([.POST], "/api/v1/vaults/:id/keys/:key/sign") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .sign)
            let body = try RequestBody(request.body, allowEmpty: false)
            let message = try body.requiredHex("message")
            let options = try Self.signingOptions(body)
            let signed = try await core.withKeyMaterial(vaultID: vault.id, keyID: parameters["key"]!, for: .signVerify, operation: "sign") {
                record, material throws(KeyKitError) in
                try KeyOperations.sign(record.spec, material: material, message: message, options: options)
            }
            return JSONResponse.encode(SignResponse(signature: Hex.encode(signed.signature), address: signed.address, hdDerivationPath: signed.hdDerivationPath))
        }
        route([.POST], "/api/v1/vaults/:id/keys/:key/verify") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .sign)
            let body = try RequestBody(request.body, allowEmpty: false)
            let message = try body.requiredHex("message")
            let signature = try body.requiredHex("signature")
            let options = try Self.signingOptions(body)
            let verified = try await core.withKeyMaterial(vaultID: vault.id, keyID: parameters["key"]!, for: .signVerify, operation: "verify") {
                record, material throws(KeyKitError) in
                try KeyOperations.verify(record.spec, material: material, message: message, signature: signature, options: options)
            }
            return JSONResponse.encode(VerifyResponse(verified: verified))
        }
        route([.POST], "/api/v1/vaults/:id/keys/:key/derive") { request, parameters in
            let vault = try await api.authorize(request, vault: parameters["id"]!, .read)
            let body = try RequestBody(request.body)
            let path = try Self.signingOptions(body).path ?? .ethereumDefault
            let derived = try await core.withKeyMaterial(vaultID: vault.id, keyID: parameters["key"]!, for: .signVerify, operation: "derive") {
                record, material throws(KeyKitError) in
                guard record.spec == .bip39 else { throw KeyKitError(.unsupported, "only a BIP39 key derives; this one is \(record.spec.rawValue)") }
                var derived = try HDWallet.derived(entropy: material, path: path)
                derived.privateKey.wipe()
                return derived
            }
            return JSONResponse.encode(DeriveResponse(address: derived.address, publicKey: "0x" + Hex.encode(derived.publicKey), hdDerivationPath: derived.path.description))
        }
        route([.POST], "/api/v1/verify") { request, _ in
            _ = try await api.authorize(request)
            let body = try RequestBody(request.body, allowEmpty: false)
            let specText = try body.requiredString("spec")
            let spec = try VaultError.from { () throws(KeyKitError) in try KeySpec(parsing: specText) }
            let publicKey = try body.requiredString("public_key")
            let message = try body.requiredHex("message")
            let signature = try body.requiredHex("signature")
            let options = try Self.signingOptions(body)
            let verified = try VaultError.from { () throws(KeyKitError) in
                try KeyOperations.verify(spec, publicKey: publicKey, message: message, signature: signature, options: options)
            }
            return JSONResponse.encode(VerifyResponse(verified: verified))
        }
    }

    // MARK: - Request parsing

    static func keyRequest(_ body: RequestBody) throws -> KeyRequest {
        try body.refuse(["vault_id"], reason: "the key belongs to the vault in the path")
        try body.refuse(["public_key", "address", "fingerprint", "id", "created_at"], reason: "the vault computes it from the key it makes")
        let specText = try body.requiredString("spec")
        let spec = try VaultError.from { () throws(KeyKitError) in try KeySpec(parsing: specText) }
        if let type = try body.string("type"), type.lowercased() != spec.type.rawValue {
            throw VaultError(.unprocessable, "type: a \(spec.rawValue) key is \(spec.type.rawValue), not '\(type)'")
        }
        let usage = try body.string("usage").map { text throws(VaultError) -> KeyUsage in
            guard let usage = KeyUsage(rawValue: text.lowercased()) else {
                throw VaultError(.unprocessable, "usage: '\(text)' is not one of \(KeyUsage.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return usage
        }
        return try KeyRequest(
            spec: spec, usage: usage, name: try body.requiredString("name"), description: try body.string("description") ?? "",
            mnemonic: try body.string("mnemonic"), ephemeral: try body.bool("ephemeral") ?? false,
            allowCallerNonce: try body.bool("allow_caller_nonce") ?? false
        )
    }

    /// `options.algorithm` and `options.hdwallet` (a path, or its BIP44 parts).
    static func signingOptions(_ body: RequestBody) throws -> SigningOptions {
        guard let options = try body.object("options") else { return SigningOptions() }
        var out = SigningOptions()
        if let algorithm = try options.string("algorithm") {
            out.algorithm = try VaultError.from { () throws(KeyKitError) in try RSAAlgorithm(parsing: algorithm) }
        }
        if let wallet = try options.object("hdwallet") {
            out.path = try VaultError.from { () throws(KeyKitError) -> HDWallet.Path in
                if let text = try? wallet.string("hd_derivation_path") { return try HDWallet.Path(parsing: text) }
                func part(_ name: String, _ fallback: UInt32) throws(KeyKitError) -> UInt32 {
                    guard let value = try? wallet.int(name) else { return fallback }
                    guard (0..<Int(HDWallet.Path.hardened)).contains(value) else {
                        throw KeyKitError(.invalidInput, "options.hdwallet.\(name): \(value) is not an index below 2^31")
                    }
                    return UInt32(value)
                }
                return try HDWallet.Path(
                    purpose: try part("purpose", 44), coin: try part("coin", 60), account: try part("account", 0),
                    change: try part("change", 0), index: try part("index", 0)
                )
            }
        }
        return out
    }

    /// `data` as bytes: UTF-8 text, or base64 with `encoding: "base64"`.
    static func decodeData(_ text: String, encoding: String?) throws -> [UInt8] {
        switch encoding?.lowercased() ?? "utf8" {
        case "utf8", "utf-8": return Array(text.utf8)
        case "base64":
            guard let data = Data(base64Encoded: text) else { throw VaultError(.unprocessable, "'data' is not valid base64") }
            return Array(data)
        case let other: throw VaultError(.unprocessable, "encoding: '\(other)' is not utf8 or base64")
        }
    }

    static func encodeData(_ bytes: [UInt8], encoding: String?) throws -> String {
        switch encoding?.lowercased() ?? "utf8" {
        case "utf8", "utf-8":
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw VaultError(.unprocessable, "the plaintext is not UTF-8 text: ask with \"encoding\": \"base64\"")
            }
            return text
        case "base64": return Data(bytes).base64EncodedString()
        case let other: throw VaultError(.unprocessable, "encoding: '\(other)' is not utf8 or base64")
        }
    }
}
