import LeanFoundation
import HTTPTransport

/// AWS KMS over its JSON 1.1 protocol: `Encrypt`, `Decrypt`, `GenerateRandom`, signed with
/// SigV4. Corrects for clock skew from the server's `Date` header and retries once when AWS
/// says the signature's time is off.
public actor KMSClient {
    public nonisolated let region: String
    public nonisolated let endpoint: String
    private let credentials: any AWSCredentialProvider
    private var clockSkew: TimeInterval = 0
    private let timeout: Duration

    /// - Parameters:
    ///   - endpoint: a full URL (`https://vpce-….kms.us-east-1.vpce.amazonaws.com`, a test
    ///     server); empty for the regional endpoint (`kms-fips` when `fips`).
    public init(region: String, endpoint: String? = nil, fips: Bool = false, credentials: any AWSCredentialProvider, timeout: Duration = .seconds(10)) {
        self.region = region
        if let endpoint, !endpoint.isEmpty {
            self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        } else {
            let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
            self.endpoint = "https://\(fips ? "kms-fips" : "kms").\(region).\(suffix)"
        }
        self.credentials = credentials
        self.timeout = timeout
    }

    public struct DecryptResult: Sendable {
        public var plaintext: [UInt8]
        public var keyID: String?
    }

    public func decrypt(_ ciphertext: [UInt8], keyID: String?, context: [String: String]) async throws(AWSError) -> DecryptResult {
        var body: [String: Any] = ["CiphertextBlob": Data(ciphertext).base64EncodedString()]
        if let keyID, !keyID.isEmpty { body["KeyId"] = keyID }
        if !context.isEmpty { body["EncryptionContext"] = context }
        let answer = try await call("Decrypt", body)
        guard let text = answer["Plaintext"] as? String, let plaintext = Data(base64Encoded: text) else {
            throw AWSError(.retryable, "KMS Decrypt answered without Plaintext")
        }
        return DecryptResult(plaintext: Array(plaintext), keyID: answer["KeyId"] as? String)
    }

    /// Returns the ciphertext blob and the key ARN KMS used.
    public func encrypt(_ plaintext: [UInt8], keyID: String, context: [String: String]) async throws(AWSError) -> (ciphertext: [UInt8], keyID: String) {
        var body: [String: Any] = ["KeyId": keyID, "Plaintext": Data(plaintext).base64EncodedString()]
        if !context.isEmpty { body["EncryptionContext"] = context }
        let answer = try await call("Encrypt", body)
        guard let text = answer["CiphertextBlob"] as? String, let blob = Data(base64Encoded: text) else {
            throw AWSError(.retryable, "KMS Encrypt answered without CiphertextBlob")
        }
        return (Array(blob), answer["KeyId"] as? String ?? keyID)
    }

    public func generateRandom(_ count: Int) async throws(AWSError) -> [UInt8] {
        let answer = try await call("GenerateRandom", ["NumberOfBytes": count])
        guard let text = answer["Plaintext"] as? String, let bytes = Data(base64Encoded: text) else {
            throw AWSError(.retryable, "KMS GenerateRandom answered without Plaintext")
        }
        return Array(bytes)
    }

    private func call(_ action: String, _ body: [String: Any], retryingSkew: Bool = true) async throws(AWSError) -> [String: Any] {
        let creds = try await credentials.credentials()
        let payload: [UInt8]
        do { payload = try AnyJSON.encode(body) } catch {
            throw AWSError(.needsFix, "cannot encode the KMS request")
        }
        guard let url = URLComponents(string: endpoint), let host = url.host else {
            throw AWSError(.needsFix, "endpoint \"\(endpoint)\" is not a URL")
        }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        let path = url.path.isEmpty ? "/" : url.path
        let request = SigV4.Request(method: "POST", path: path, headers: [
            ("Host", hostHeader),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "TrentService.\(action)"),
        ], body: payload)
        let signed = SigV4.sign(request, credentials: creds, region: region, service: "kms", date: Date().addingTimeInterval(clockSkew))
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.send(HTTPClientRequest(
                method: "POST", url: endpoint + (url.path.isEmpty ? "/" : ""),
                headers: request.headers.filter { $0.name != "Host" } + signed.headersToAdd,
                body: payload, timeout: timeout
            ))
        } catch {
            throw AWSError(.retryable, "KMS \(action) at \(endpoint): \(error)")
        }
        let json = AnyJSON.object(response.body) ?? [:]
        if response.status == 200 { return json }

        // JSON 1.1 errors carry `__type` (or the x-amzn-ErrorType header); authentication
        // failures from some front ends come as XML `<Error><Code>…` instead.
        let xml = String(decoding: response.body, as: UTF8.self)
        let rawType = (json["__type"] as? String) ?? response.headers["x-amzn-errortype"] ?? XMLText.first("Code", in: xml) ?? "HTTP \(response.status)"
        let code = String(rawType.split(separator: "#").last ?? Substring(rawType)).split(separator: ":").first.map(String.init) ?? rawType
        let message = (json["message"] as? String) ?? (json["Message"] as? String) ?? XMLText.first("Message", in: xml) ?? ""

        // Clock skew: correct from the server's Date and retry once.
        if retryingSkew, ["InvalidSignatureException", "RequestExpired", "SignatureDoesNotMatch"].contains(code) || message.lowercased().contains("signature expired"),
           let dateHeader = response.headers["date"], let serverDate = Self.httpDate(dateHeader),
           abs(serverDate.timeIntervalSinceNow - clockSkew) > 60 {
            clockSkew = serverDate.timeIntervalSinceNow
            return try await call(action, body, retryingSkew: false)
        }
        throw Self.classify(action: action, status: response.status, code: code, message: message)
    }

    static func classify(action: String, status: Int, code: String, message: String) -> AWSError {
        let detail = message.isEmpty ? code : "\(code): \(message)"
        switch code {
        case "ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException", "LimitExceededException", "ServiceUnavailableException", "InternalFailure":
            return AWSError(.retryable, code: code, "KMS \(action) failed (will retry): \(detail)")
        case "AccessDeniedException", "AccessDenied":
            return AWSError(.needsFix, code: code, "KMS \(action) denied: \(detail) — grant kms:\(action) on the key to this identity (IAM policy and key policy)")
        case "InvalidCiphertextException":
            return AWSError(.needsFix, code: code, "KMS \(action): \(detail) — the ciphertext was made with another key or another encryption_context; check kms_key_id, encryption_context and ciphertext_path")
        case "IncorrectKeyException":
            return AWSError(.needsFix, code: code, "KMS \(action): \(detail) — kms_key_id is not the key that made this ciphertext")
        case "DisabledException":
            return AWSError(.needsFix, code: code, "KMS \(action): \(detail) — the key is disabled; enable it")
        case "KMSInvalidStateException":
            return AWSError(.needsFix, code: code, "KMS \(action): \(detail) — the key is pending deletion or import; cancel the deletion")
        case "NotFoundException":
            return AWSError(.needsFix, code: code, "KMS \(action): \(detail) — kms_key_id names no key in this region/account")
        case "SignatureDoesNotMatch", "InvalidSignatureException", "UnrecognizedClientException", "InvalidClientTokenId", "IncompleteSignature":
            return AWSError(.needsFix, code: code, "KMS \(action): \(detail) — the AWS credentials are wrong (check the secret key, or the clock)")
        case "ExpiredTokenException":
            return AWSError(.retryable, code: code, "KMS \(action): \(detail) — the session credentials expired; refreshing")
        default:
            return AWSError(status >= 500 || status == 429 ? .retryable : .needsFix, code: code, "KMS \(action) failed: \(detail) (HTTP \(status))")
        }
    }

    static func httpDate(_ text: String) -> Date? {
        UTCTime.parseHTTPDate(text)
    }
}
