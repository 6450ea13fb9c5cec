import HTTPTransport
import LeanFoundation
import SealKit
import SealSourceCore

/// A client for one key of another Vault's (or OpenBao's) Transit engine: encrypt, decrypt, and
/// the token's own lookup and renewal — the five calls Vault's `seal "transit"` makes.
///
/// Every failure is classified here, once (``classify(status:body:operation:)``): what waiting
/// can cure (connection, time-out, 429, 5xx — a sealed or standby Transit vault answers 503)
/// is `.retryable`; a refusal (403), a missing engine (404) or key, or a bad ciphertext (400) is
/// `.needsFix`, with the setting to change.
public struct TransitClient: Sendable {
    /// Where the token comes from: the configuration (kept cloaked), or a file read at every
    /// call, so a token that Vault Agent (or an operator) rewrites is picked up without a restart.
    public enum Token: Sendable {
        case value(CloakedText)
        case file(String)
    }

    /// `https://vault.example.com:8200`, without a trailing slash.
    public let address: String
    /// The engine's mount, without slashes: `transit`.
    public let mountPath: String
    public let keyName: String
    public let namespace: String?
    public let token: Token
    public let caBundlePath: String?
    public let clientCertificate: (certificatePath: String, keyPath: String)?
    public let serverName: String?
    public let timeout: Duration

    public init(address: String, mountPath: String, keyName: String, namespace: String?, token: Token, caBundlePath: String?,
                clientCertificate: (certificatePath: String, keyPath: String)?, serverName: String?, timeout: Duration) {
        self.address = address.hasSuffix("/") ? String(address.dropLast()) : address
        self.mountPath = mountPath.split(separator: "/").joined(separator: "/")
        self.keyName = keyName
        self.namespace = namespace
        self.token = token
        self.caBundlePath = caBundlePath
        self.clientCertificate = clientCertificate
        self.serverName = serverName
        self.timeout = timeout
    }

    // MARK: The Transit calls

    /// `material` encrypted under the key's latest version: `vault:vN:…`.
    public func encrypt(_ plaintext: [UInt8]) async throws(SealSourceError) -> String {
        let body = try Self.encode(["plaintext": Data(plaintext).base64EncodedString()])
        let answer: EncryptAnswer = try await call("POST", "/v1/\(mountPath)/encrypt/\(keyName)", body: body, operation: "encrypt", setting: "key_name")
        return answer.data.ciphertext
    }

    /// The plaintext of `ciphertext` (`vault:vN:…`), decrypted with `keyName` (the key that made
    /// it, as the envelope records; this client's key when `nil`).
    public func decrypt(_ ciphertext: String, keyName: String? = nil, mountPath: String? = nil) async throws(SealSourceError) -> [UInt8] {
        let body = try Self.encode(["ciphertext": ciphertext])
        let path = "/v1/\(mountPath ?? self.mountPath)/decrypt/\(keyName ?? self.keyName)"
        let answer: DecryptAnswer = try await call("POST", path, body: body, operation: "decrypt", setting: "key_name")
        guard let plaintext = Data(base64Encoded: answer.data.plaintext).map(Array.init) else {
            throw SealSourceError(.needsFix, "seal \"transit\": \(address) answered decrypt with a plaintext that is not base64", setting: "address")
        }
        return plaintext
    }

    /// The token's remaining life and whether it can be renewed (`auth/token/lookup-self`).
    public func lookupSelf() async throws(SealSourceError) -> TokenState {
        let answer: LookupAnswer = try await call("GET", "/v1/auth/token/lookup-self", body: nil, operation: "token lookup", setting: "token")
        return TokenState(ttl: answer.data.ttl, renewable: answer.data.renewable ?? false)
    }

    /// Renews the token (`auth/token/renew-self`) and returns its new life.
    public func renewSelf() async throws(SealSourceError) -> TokenState {
        let answer: RenewAnswer = try await call("POST", "/v1/auth/token/renew-self", body: try Self.encode([String: String]()),
                                                 operation: "token renewal", setting: "token")
        return TokenState(ttl: answer.auth.leaseDuration, renewable: answer.auth.renewable)
    }

    public struct TokenState: Sendable, Equatable {
        /// Seconds left; 0 for a token that never expires (a root token).
        public let ttl: Int
        public let renewable: Bool
    }

    /// The version of the key a ciphertext was made with: `vault:v3:…` → 3.
    public static func keyVersion(of ciphertext: String) -> Int? {
        let parts = ciphertext.split(separator: ":", maxSplits: 2)
        guard parts.count == 3, parts[0] == "vault", parts[1].hasPrefix("v") else { return nil }
        return Int(parts[1].dropFirst())
    }

    // MARK: The exchange

    func currentToken() throws(SealSourceError) -> String {
        switch token {
        case .value(let cloaked):
            do { return try cloaked.reveal() } catch { throw SealSourceError(.needsFix, "seal \"transit\": the cloaked token was damaged in memory", setting: "token") }
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SealSourceError(.needsFix, "seal \"transit\": cannot read the token file \(path)", setting: "token_file")
            }
            let text = String(decoding: data, as: UTF8.self).trimmed
            guard !text.isEmpty else { throw SealSourceError(.needsFix, "seal \"transit\": the token file \(path) is empty", setting: "token_file") }
            return text
        }
    }

    private func call<Answer: Decodable>(_ method: String, _ path: String, body: [UInt8]?, operation: String, setting: String) async throws(SealSourceError) -> Answer {
        var headers = [("X-Vault-Token", try currentToken()), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        if let namespace, !namespace.isEmpty { headers.append(("X-Vault-Namespace", namespace)) }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.send(HTTPClientRequest(
                method: method, url: address + path, headers: headers, body: body, timeout: timeout,
                caBundlePath: caBundlePath, clientCertificate: clientCertificate, serverName: serverName))
        } catch let error as HTTPTransportError {
            throw transportFailure(error, operation: operation)
        } catch {
            throw SealSourceError(.retryable, "seal \"transit\": \(operation): \(error)", setting: "address")
        }
        guard response.status == 200 else {
            throw classify(status: response.status, body: response.body, operation: operation, path: path, setting: setting)
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(response.body))
        } catch {
            throw SealSourceError(.retryable, "seal \"transit\": \(operation): \(address) answered 200 with a body that is not Transit's", setting: "address")
        }
    }

    /// A request that got no answer. TLS failures name the one setting that fixes them.
    func transportFailure(_ error: HTTPTransportError, operation: String) -> SealSourceError {
        let what = "seal \"transit\": \(operation)"
        guard error.kind == .tls else {
            return SealSourceError(error.isRetryable ? .retryable : .needsFix, "\(what): \(error.message)", setting: "address")
        }
        switch error.tlsProblem {
        case .untrustedCertificate:
            let trusted = caBundlePath.map { "the CA in \($0)" } ?? "the system's CAs"
            return SealSourceError(.needsFix, "\(what): \(address)'s certificate is not signed by \(trusted): point tls_ca_cert at the CA that signed it", setting: "tls_ca_cert")
        case .nameMismatch:
            return SealSourceError(.needsFix, "\(what): \(error.message): set tls_server_name to a name the certificate carries", setting: "tls_server_name")
        case .clientCertificateRequired:
            return SealSourceError(.needsFix, "\(what): \(error.message): set tls_client_cert and tls_client_key", setting: "tls_client_cert")
        case .clientCertificateRefused:
            return SealSourceError(.needsFix, "\(what): \(error.message): tls_client_cert must be signed by a CA the server trusts for clients", setting: "tls_client_cert")
        case .other, nil:
            return SealSourceError(.needsFix, "\(what): \(error.message) (check tls_ca_cert, tls_client_cert, tls_client_key, tls_server_name)", setting: "tls_ca_cert")
        }
    }

    /// One place decides what a Transit answer means for the agent.
    func classify(status: Int, body: [UInt8], operation: String, path: String, setting: String) -> SealSourceError {
        let messages = (try? JSONDecoder().decode(ErrorAnswer.self, from: Data(body)))?.errors ?? []
        let said = messages.isEmpty ? "" : ": " + messages.joined(separator: "; ")
        let what = "seal \"transit\": \(operation) at \(address) answered \(status)\(said)"
        switch status {
        case 403:
            let capability = path.hasPrefix("/v1/auth/token/") ? "the token's own lookup-self and renew-self (the default policy grants them)"
                : "'update' on \(mountPath)/encrypt/\(keyName) and \(mountPath)/decrypt/\(keyName)"
            // A token made in a namespace is refused everywhere else, with the same 403.
            let place = namespace.map { " in namespace '\($0)'" } ?? " in the root namespace (set namespace if the key and the token live in one)"
            return SealSourceError(.needsFix, "\(what) — permission denied: the token needs \(capability)\(place)", setting: "token")
        case 404:
            return SealSourceError(.needsFix, "\(what) — no Transit engine at '\(mountPath)' in \(namespace.map { "namespace '\($0)'" } ?? "the root namespace") (mount_path)", setting: "mount_path")
        case 400:
            return SealSourceError(.needsFix, "\(what) (key_name '\(keyName)')", setting: setting)
        case 429, 500...599, 412:
            return SealSourceError(.retryable, what, setting: "address")
        default:
            return SealSourceError(.needsFix, what, setting: setting)
        }
    }

    static func encode(_ value: [String: String]) throws(SealSourceError) -> [UInt8] {
        do { return Array(try JSONEncoder().encode(value)) } catch {
            throw SealSourceError(.needsFix, "seal \"transit\": cannot encode a request", setting: nil)
        }
    }

    // MARK: Transit's answers

    struct EncryptAnswer: Decodable {
        struct Body: Decodable { let ciphertext: String }
        let data: Body
    }
    struct DecryptAnswer: Decodable {
        struct Body: Decodable { let plaintext: String }
        let data: Body
    }
    struct LookupAnswer: Decodable {
        struct Body: Decodable { let ttl: Int; let renewable: Bool? }
        let data: Body
    }
    struct RenewAnswer: Decodable {
        struct Auth: Decodable {
            let leaseDuration: Int
            let renewable: Bool
            enum CodingKeys: String, CodingKey { case leaseDuration = "lease_duration", renewable }
        }
        let auth: Auth
    }
    struct ErrorAnswer: Decodable { let errors: [String]? }
}
