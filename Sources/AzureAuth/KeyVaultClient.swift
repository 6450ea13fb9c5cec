import LeanFoundation
import HTTPTransport

/// Azure Key Vault's data plane (api-version 7.4): secrets get/set, and RSA-OAEP-256 key
/// wrap/unwrap.
///
/// Authentication follows Key Vault's challenge: the first request goes without a token, the
/// `401`'s `WWW-Authenticate: Bearer authorization="…/{tenant}", resource="…"` names the scope,
/// and that resource must belong to the vault's own domain (so a hostile endpoint cannot ask
/// for a token to something else) unless `disable_challenge_resource_verification` is set for
/// private endpoints and tests. A token refused later (expired, revoked) is renewed once.
/// `429` waits for `Retry-After`.
public actor KeyVaultClient {
    public nonisolated let vaultURI: String
    private let credentials: CachingTokenProvider
    private let verifyChallengeResource: Bool
    private let caBundle: String?
    private let timeout: Duration
    private var scope: String?
    /// The tenant the challenge's `authorization` URL names (tenant discovery).
    private var tenant: String?
    static let apiVersion = "7.4"
    static let maxThrottleWaits = 3

    public init(vaultURI: String, credentials: CachingTokenProvider, verifyChallengeResource: Bool = true, caBundle: String? = nil, timeout: Duration = .seconds(10)) {
        self.vaultURI = vaultURI.hasSuffix("/") ? String(vaultURI.dropLast()) : vaultURI
        self.credentials = credentials
        self.verifyChallengeResource = verifyChallengeResource
        self.caBundle = caBundle
        self.timeout = timeout
    }

    // MARK: - Operations

    /// The secret's value (the latest version unless `version` is given).
    public func getSecret(_ name: String, version: String? = nil) async throws(AzureError) -> String {
        let answer = try await call("GET", "/secrets/\(name)\(version.map { "/\($0)" } ?? "")", body: nil, what: "reading secret '\(name)'", permission: "secrets get (role Key Vault Secrets User)")
        guard let value = answer["value"] as? String else { throw AzureError(.retryable, "Key Vault answered secret '\(name)' without a value") }
        return value
    }

    /// Stores a new version of the secret; returns its id.
    @discardableResult
    public func setSecret(_ name: String, value: String) async throws(AzureError) -> String {
        let answer = try await call("PUT", "/secrets/\(name)", body: ["value": value, "contentType": "unseal-agent key material"], what: "writing secret '\(name)'", permission: "secrets set (role Key Vault Secrets Officer)")
        return answer["id"] as? String ?? ""
    }

    /// Wraps `plaintext` with RSA-OAEP-256; returns the key id (with version) that did it.
    public func wrapKey(_ name: String, version: String? = nil, plaintext: [UInt8]) async throws(AzureError) -> (keyID: String, blob: [UInt8]) {
        let answer = try await call("POST", "/keys/\(name)\(version.map { "/\($0)" } ?? "")/wrapkey", body: ["alg": "RSA-OAEP-256", "value": Base64URL.encode(Data(plaintext))],
                                    what: "wrapping with key '\(name)'", permission: "keys wrapKey (role Key Vault Crypto User)")
        guard let value = (answer["value"] as? String).flatMap(Base64URL.decode) else { throw AzureError(.retryable, "Key Vault answered wrapkey without a value") }
        return (answer["kid"] as? String ?? "\(vaultURI)/keys/\(name)", Array(value))
    }

    /// Unwraps an RSA-OAEP-256 blob; `keyID` is a full kid URL or a key name.
    public func unwrapKey(_ keyID: String, blob: [UInt8]) async throws(AzureError) -> [UInt8] {
        let path = keyID.hasPrefix("http") ? (URL(string: keyID)?.path ?? keyID) : "/keys/\(keyID)"
        let answer = try await call("POST", "\(path)/unwrapkey", body: ["alg": "RSA-OAEP-256", "value": Base64URL.encode(Data(blob))],
                                    what: "unwrapping with key '\(keyID)'", permission: "keys unwrapKey (role Key Vault Crypto User)")
        guard let value = (answer["value"] as? String).flatMap(Base64URL.decode) else { throw AzureError(.retryable, "Key Vault answered unwrapkey without a value") }
        return Array(value)
    }

    // MARK: - The call

    private func call(_ method: String, _ path: String, body: [String: Any]?, what: String, permission: String) async throws(AzureError) -> [String: Any] {
        let url = "\(vaultURI)\(path)?api-version=\(Self.apiVersion)"
        let payload = body.flatMap { try? AnyJSON.encode($0) }
        var renewed = false
        var throttled = 0
        while true {
            var headers = [("Accept", "application/json")]
            if payload != nil { headers.append(("Content-Type", "application/json")) }
            if let scope {
                headers.append(("Authorization", "Bearer \(try await credentials.token(scope: scope, tenantHint: tenant).value)"))
            }
            let response = try await AzureHTTP.send(HTTPClientRequest(method: method, url: url, headers: headers, body: payload,
                                                                     timeout: timeout, caBundlePath: caBundle), what: "Key Vault \(what)")
            switch response.status {
            case 200...299:
                return AzureHTTP.json(response) ?? [:]
            case 401:
                // No token yet, or the one we sent was refused: learn the scope, renew, retry once.
                guard scope == nil || !renewed else {
                    throw AzureError(.needsFix, code: "Unauthorized", "Key Vault refused a fresh token for \(what): check that the identity belongs to the vault's tenant")
                }
                if scope != nil { renewed = true; await credentials.invalidate() }
                (scope, tenant) = try challenge(response)
                continue
            case 429:
                throttled += 1
                guard throttled <= Self.maxThrottleWaits else { throw AzureError(.retryable, code: "Throttled", "Key Vault kept throttling \(what)") }
                try? await Task.sleep(for: AzureHTTP.retryAfter(response) ?? .seconds(1 << throttled))
                continue
            default:
                throw classify(response, what: what, permission: permission)
            }
        }
    }

    private func classify(_ response: HTTPClientResponse, what: String, permission: String) -> AzureError {
        let error = AzureHTTP.json(response)?["error"] as? [String: Any]
        let code = error?["code"] as? String
        let message = error?["message"] as? String ?? "HTTP \(response.status)"
        switch response.status {
        case 403:
            return AzureError(.needsFix, code: code, "Key Vault \(vaultURI) denied \(what): \(message) — grant the identity \(permission)")
        case 404:
            return AzureError(.notFound, code: code, "Key Vault \(vaultURI): \(what): \(code ?? "not found"): \(message)")
        case 400, 405, 409:
            return AzureError(.needsFix, code: code, "Key Vault \(vaultURI) rejected \(what): \(code ?? "HTTP \(response.status)"): \(message)")
        default:
            return AzureError(.retryable, code: code, "Key Vault \(vaultURI) failed \(what) (HTTP \(response.status)\(code.map { ", \($0)" } ?? "")); will retry")
        }
    }

    /// The scope and tenant named by a `401`'s Bearer challenge, after checking its resource.
    private func challenge(_ response: HTTPClientResponse) throws(AzureError) -> (String, String?) {
        guard let header = response.headers["www-authenticate"], let challenge = Self.parseChallenge(header) else {
            throw AzureError(.needsFix, "Key Vault \(vaultURI) answered 401 without a Bearer challenge: is vault_uri a Key Vault?")
        }
        let scope: String
        if let explicit = challenge["scope"] {
            scope = explicit
        } else if let resource = challenge["resource"] {
            scope = resource.hasSuffix("/") ? resource + ".default" : resource + "/.default"
        } else {
            throw AzureError(.needsFix, "Key Vault's challenge names no resource or scope")
        }
        if verifyChallengeResource {
            let resourceHost = URL(string: scope)?.host ?? ""
            let vaultHost = URL(string: vaultURI)?.host ?? ""
            guard !resourceHost.isEmpty, vaultHost == resourceHost || vaultHost.hasSuffix("." + resourceHost) else {
                throw AzureError(.needsFix, "Key Vault's challenge asks for a token to \(resourceHost), which is not \(vaultHost)'s domain; for a private endpoint set disable_challenge_resource_verification = true")
            }
        }
        let tenant = challenge["authorization"].flatMap { URL(string: $0)?.pathComponents.last }.flatMap { $0 == "/" ? nil : $0 }
        return (scope, tenant)
    }

    /// `Bearer authorization="…", resource="…"` → `["authorization": …, "resource": …]`.
    public static func parseChallenge(_ header: String) -> [String: String]? {
        let trimmed = header.trimmed
        guard trimmed.lowercased().hasPrefix("bearer ") else { return nil }
        var result = [String: String]()
        for part in trimmed.dropFirst(7).split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(\.trimmed)
            guard pair.count == 2 else { continue }
            result[pair[0].lowercased()] = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2 ? String(pair[1].dropFirst().dropLast()) : pair[1]
        }
        return result
    }
}
