import _CryptoExtras
import Crypto
import HTTPTransport
import LeanFoundation
import SealKit
import SealSourceCore

/// Where the agent's Google access token comes from — the first configured wins, as Google's
/// own libraries decide:
/// 1. `credentials` (or `GOOGLE_APPLICATION_CREDENTIALS`): a service-account key file (the
///    JWT-bearer grant, RS256) or an external-account file (workload identity federation: the
///    subject token exchanged at STS);
/// 2. the metadata server (`Metadata-Flavor: Google`), on GCE, GKE and Cloud Run.
public enum GCPIdentity: Sendable {
    case serviceAccount(email: String, keyID: String?, privateKeyPEM: CloakedText, tokenURI: String)
    case externalAccount(audience: String, subjectTokenType: String, tokenURL: String, subjectTokenFile: String)
    case metadataServer(host: String)

    public var description: String {
        switch self {
        case .serviceAccount(let email, _, _, _): "service account \(email)"
        case .externalAccount(let audience, _, _, _): "workload identity \(audience)"
        case .metadataServer(let host): "the metadata server (\(host))"
        }
    }

    /// The identity a credentials file describes; errors name `credentials`.
    public static func fromFile(_ path: String) throws(SealSourceError) -> GCPIdentity {
        guard let data = FileManager.default.contents(atPath: path), let json = AnyJSON.object(Array(data)) else {
            throw SealSourceError(.needsFix, "seal \"gcpckms\": cannot read the credentials file \(path) as JSON", setting: "credentials")
        }
        switch json["type"] as? String {
        case "service_account":
            guard let email = json["client_email"] as? String, let pem = json["private_key"] as? String else {
                throw SealSourceError(.needsFix, "seal \"gcpckms\": \(path) lacks client_email or private_key", setting: "credentials")
            }
            let cloaked: CloakedText
            do { cloaked = try CloakedText(pem) } catch { throw SealSourceError(.needsFix, "seal \"gcpckms\": cannot keep the private key: \(error.reason)", setting: "credentials") }
            return .serviceAccount(email: email, keyID: json["private_key_id"] as? String, privateKeyPEM: cloaked,
                                   tokenURI: json["token_uri"] as? String ?? "https://oauth2.googleapis.com/token")
        case "external_account":
            guard let audience = json["audience"] as? String, let tokenURL = json["token_url"] as? String,
                  let file = (json["credential_source"] as? [String: Any])?["file"] as? String else {
                throw SealSourceError(.needsFix, "seal \"gcpckms\": \(path) is an external account without audience, token_url or credential_source.file (only file sources are supported)", setting: "credentials")
            }
            return .externalAccount(audience: audience, subjectTokenType: json["subject_token_type"] as? String ?? "urn:ietf:params:oauth:token-type:jwt",
                                    tokenURL: tokenURL, subjectTokenFile: file)
        case let other:
            throw SealSourceError(.needsFix, "seal \"gcpckms\": \(path) has type \(other ?? "none"); expected service_account or external_account", setting: "credentials")
        }
    }
}

/// An access token for Cloud KMS, cached (cloaked) until a minute before it expires.
public actor GCPTokenSource {
    public nonisolated let identity: GCPIdentity
    let timeout: Duration
    private var cached: (token: CloakedText, expires: Date)?

    static let scope = "https://www.googleapis.com/auth/cloudkms"

    public init(identity: GCPIdentity, timeout: Duration) {
        self.identity = identity
        self.timeout = timeout
    }

    public func token() async throws(SealSourceError) -> String {
        if let cached, cached.expires.timeIntervalSinceNow > 60, let text = try? cached.token.reveal() { return text }
        let (value, lifetime) = try await fetch()
        if let cloaked = try? CloakedText(value) { cached = (cloaked, Date().addingTimeInterval(Double(lifetime))) }
        return value
    }

    /// Forgets the cached token (after Cloud KMS answered 401).
    public func invalidate() { cached = nil }

    private func fetch() async throws(SealSourceError) -> (String, Int) {
        switch identity {
        case .serviceAccount(let email, let keyID, let pem, let tokenURI):
            // The audience is Google's token endpoint by name, wherever token_uri points (as
            // google-auth does it).
            let assertion = try Self.assertion(email: email, keyID: keyID, pem: pem, audience: "https://oauth2.googleapis.com/token")
            let body = "grant_type=\(PercentEncoding.encode("urn:ietf:params:oauth:grant-type:jwt-bearer"))&assertion=\(assertion)"
            return try await exchange(tokenURI, body: Array(body.utf8), contentType: "application/x-www-form-urlencoded", headers: [])
        case .externalAccount(let audience, let subjectTokenType, let tokenURL, let file):
            guard let subject = try? String(contentsOfFile: file, encoding: .utf8).trimmed, !subject.isEmpty else {
                throw SealSourceError(.needsFix, "seal \"gcpckms\": cannot read the subject token \(file) (credential_source.file)", setting: "credentials")
            }
            let fields = [("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("audience", audience),
                          ("scope", "https://www.googleapis.com/auth/cloud-platform"),
                          ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                          ("subject_token_type", subjectTokenType), ("subject_token", subject)]
            let body = fields.map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
            return try await exchange(tokenURL, body: Array(body.utf8), contentType: "application/x-www-form-urlencoded", headers: [])
        case .metadataServer(let host):
            return try await exchange("http://\(host)/computeMetadata/v1/instance/service-accounts/default/token", body: nil, contentType: nil,
                                      headers: [("Metadata-Flavor", "Google")])
        }
    }

    private func exchange(_ url: String, body: [UInt8]?, contentType: String?, headers: [(String, String)]) async throws(SealSourceError) -> (String, Int) {
        var all = headers
        if let contentType { all.append(("Content-Type", contentType)) }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.send(HTTPClientRequest(method: body == nil ? "GET" : "POST", url: url, headers: all, body: body,
                                                                   connectTimeout: .seconds(2), timeout: timeout))
        } catch {
            throw SealSourceError(.retryable, "seal \"gcpckms\": getting a token from \(identity.description) failed: \(error)", setting: "credentials")
        }
        let json = AnyJSON.object(response.body) ?? [:]
        guard response.status == 200, let token = json["access_token"] as? String else {
            let reason = (json["error_description"] as? String) ?? (json["error"] as? String) ?? "HTTP \(response.status)"
            let retryable = response.status >= 500 || response.status == 429
            throw SealSourceError(retryable ? .retryable : .needsFix, "seal \"gcpckms\": \(identity.description) was refused a token (HTTP \(response.status)): \(reason)", setting: "credentials")
        }
        let lifetime = (json["expires_in"] as? Int) ?? Int(json["expires_in"] as? Double ?? 300)
        return (token, lifetime)
    }

    /// The JWT-bearer grant's assertion: `{alg: RS256, typ: JWT, kid}` . `{iss, scope, aud, iat, exp}`.
    static func assertion(email: String, keyID: String?, pem: CloakedText, audience: String, now: Date = Date()) throws(SealSourceError) -> String {
        let key: _RSA.Signing.PrivateKey
        do { key = try _RSA.Signing.PrivateKey(pemRepresentation: try pem.reveal()) } catch {
            throw SealSourceError(.needsFix, "seal \"gcpckms\": the service account's private_key is not an RSA key", setting: "credentials")
        }
        let issued = Int(now.timeIntervalSince1970)
        var header: [String: Any] = ["alg": "RS256", "typ": "JWT"]
        if let keyID { header["kid"] = keyID }
        let claims: [String: Any] = ["iss": email, "scope": scope, "aud": audience, "iat": issued, "exp": issued + 3600]
        let encode = { (object: [String: Any]) in Base64URL.encode(Data((try? AnyJSON.encode(object, sortedKeys: true)) ?? [])) }
        let signingInput = encode(header) + "." + encode(claims)
        do {
            let signature = try key.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
            return signingInput + "." + Base64URL.encode(signature.rawRepresentation)
        } catch {
            throw SealSourceError(.needsFix, "seal \"gcpckms\": signing the token request failed", setting: "credentials")
        }
    }
}
