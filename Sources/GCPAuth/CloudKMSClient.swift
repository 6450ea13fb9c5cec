import HTTPTransport
import LeanFoundation
import SealSourceCore

/// Cloud KMS's REST API for one key: `cryptoKeys/{key}:encrypt` and `:decrypt`, with the
/// CRC32C integrity fields Google recommends checked both ways (a request or answer damaged in
/// transit is caught, not stored). Failures are classified here, once.
public struct CloudKMSClient: Sendable {
    /// `projects/P/locations/R/keyRings/K/cryptoKeys/C`.
    public let keyName: String
    /// `https://cloudkms.googleapis.com` (or `endpoint`, for a private endpoint or a test).
    public let endpoint: String
    public let tokens: GCPTokenSource
    public let timeout: Duration

    public init(keyName: String, endpoint: String, tokens: GCPTokenSource, timeout: Duration) {
        self.keyName = keyName
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.tokens = tokens
        self.timeout = timeout
    }

    public func encrypt(_ plaintext: [UInt8]) async throws(SealSourceError) -> (ciphertext: [UInt8], version: String) {
        let answer = try await call("encrypt", ["plaintext": Data(plaintext).base64EncodedString(), "plaintextCrc32c": String(CRC32C.checksum(plaintext))])
        guard let text = answer["ciphertext"] as? String, let ciphertext = Data(base64Encoded: text).map(Array.init) else {
            throw SealSourceError(.retryable, "seal \"gcpckms\": encrypt answered without a ciphertext", setting: nil)
        }
        // Google's rule: the request's checksum was verified, and the answer's matches.
        guard answer["verifiedPlaintextCrc32c"] as? Bool == true, Self.number(answer["ciphertextCrc32c"]) == CRC32C.checksum(ciphertext) else {
            throw SealSourceError(.retryable, "seal \"gcpckms\": encrypt's CRC32C integrity check failed (damaged in transit); nothing was stored", setting: nil)
        }
        return (ciphertext, answer["name"] as? String ?? keyName)
    }

    public func decrypt(_ ciphertext: [UInt8]) async throws(SealSourceError) -> [UInt8] {
        let answer = try await call("decrypt", ["ciphertext": Data(ciphertext).base64EncodedString(), "ciphertextCrc32c": String(CRC32C.checksum(ciphertext))])
        guard let text = answer["plaintext"] as? String, let plaintext = Data(base64Encoded: text).map(Array.init) else {
            throw SealSourceError(.retryable, "seal \"gcpckms\": decrypt answered without a plaintext", setting: nil)
        }
        guard Self.number(answer["plaintextCrc32c"]) == CRC32C.checksum(plaintext) else {
            throw SealSourceError(.retryable, "seal \"gcpckms\": decrypt's CRC32C integrity check failed (damaged in transit)", setting: nil)
        }
        return plaintext
    }

    /// int64 fields arrive as JSON strings.
    static func number(_ value: Any?) -> UInt32? {
        if let text = value as? String { return UInt32(text) }
        if let number = value as? Int { return UInt32(exactly: number) }
        return nil
    }

    private func call(_ method: String, _ body: [String: Any]) async throws(SealSourceError) -> [String: Any] {
        for attempt in 0..<2 {
            let token = try await tokens.token()
            let response: HTTPClientResponse
            do {
                response = try await HTTPClient.send(HTTPClientRequest(
                    method: "POST", url: "\(endpoint)/v1/\(keyName):\(method)",
                    headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                    body: try AnyJSON.encode(body), timeout: timeout))
            } catch let error as HTTPTransportError {
                throw SealSourceError(error.isRetryable ? .retryable : .needsFix, "seal \"gcpckms\": \(method): \(error.message)", setting: "endpoint")
            } catch {
                throw SealSourceError(.retryable, "seal \"gcpckms\": \(method): \(error)", setting: "endpoint")
            }
            if response.status == 401 && attempt == 0 {
                await tokens.invalidate()   // an expired or revoked token: one fresh try
                continue
            }
            let json = AnyJSON.object(response.body) ?? [:]
            guard response.status == 200 else { throw classify(response.status, json, method: method) }
            return json
        }
        throw SealSourceError(.needsFix, "seal \"gcpckms\": \(method): Cloud KMS refused a fresh token (401): check credentials", setting: "credentials")
    }

    func classify(_ status: Int, _ json: [String: Any], method: String) -> SealSourceError {
        let error = json["error"] as? [String: Any]
        let message = (error?["message"] as? String) ?? "HTTP \(status)"
        let state = (error?["status"] as? String) ?? ""
        let what = "seal \"gcpckms\": \(method) of \(keyName) answered \(status) \(state): \(message)"
        switch status {
        case 403:
            let permission = method == "encrypt" ? "cloudkms.cryptoKeyVersions.useToEncrypt" : "cloudkms.cryptoKeyVersions.useToDecrypt"
            return SealSourceError(.needsFix, "\(what) — the identity needs \(permission) on the key (roles/cloudkms.cryptoKeyEncrypterDecrypter)", setting: "credentials")
        case 404:
            return SealSourceError(.needsFix, "\(what) — check project, region, key_ring and crypto_key", setting: "crypto_key")
        case 400:
            return SealSourceError(.needsFix, what, setting: method == "decrypt" ? "ciphertext_path" : "crypto_key")
        case 401:
            return SealSourceError(.needsFix, what, setting: "credentials")
        case 408, 429, 500...599:
            return SealSourceError(.retryable, what, setting: nil)
        default:
            return SealSourceError(.needsFix, what, setting: "crypto_key")
        }
    }
}

/// CRC32C (Castagnoli, reflected 0x82F63B78), as Cloud KMS's integrity fields carry it.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
