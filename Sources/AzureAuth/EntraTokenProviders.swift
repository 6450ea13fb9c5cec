import Crypto
import _CryptoExtras
import LeanFoundation
import HTTPTransport

/// The Entra ID (Azure AD) token endpoint, `{authority}/{tenant}/oauth2/v2.0/token`, with the
/// client-credentials grant. The three credentials below differ only in how the client proves
/// who it is.
struct EntraTokenEndpoint: Sendable {
    let authorityHost: String
    /// nil: taken from Key Vault's challenge (tenant discovery).
    let tenantID: String?
    let clientID: String
    let caBundle: String?

    func url(tenant: String) -> String { "\(authorityHost)/\(tenant)/oauth2/v2.0/token" }

    func tenant(_ hint: String?) throws(AzureError) -> String {
        guard let tenant = tenantID ?? hint else {
            throw AzureError(.needsFix, "tenant_id (or AZURE_TENANT_ID) is required: Key Vault's challenge did not name a tenant")
        }
        return tenant
    }

    var tenantLabel: String { tenantID ?? "from Key Vault's challenge" }

    func token(scope: String, tenant: String, proof: [(String, String)], what: String) async throws(AzureError) -> AzureToken {
        let url = url(tenant: tenant)
        let fields = [("grant_type", "client_credentials"), ("client_id", clientID), ("scope", scope)] + proof
        let response = try await AzureHTTP.send(HTTPClientRequest(
            method: "POST", url: url, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(AzureHTTP.query(fields).utf8), timeout: .seconds(10), caBundlePath: caBundle
        ), what: what)
        return try AzureHTTP.token(from: response, what: what)
    }

    /// The proof fields of a JWT client assertion (a signed one, or a federated token).
    static func assertionProof(_ assertion: String) -> [(String, String)] {
        [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion)]
    }
}

/// A service principal with a client secret (`client_secret`, `AZURE_CLIENT_SECRET`).
public struct ClientSecretProvider: AzureTokenProvider {
    let endpoint: EntraTokenEndpoint
    let secret: String

    public init(authorityHost: String, tenantID: String?, clientID: String, secret: String, caBundle: String? = nil) {
        endpoint = EntraTokenEndpoint(authorityHost: authorityHost, tenantID: tenantID, clientID: clientID, caBundle: caBundle)
        self.secret = secret
    }

    public var name: String { "client secret (tenant \(endpoint.tenantLabel), client \(endpoint.clientID))" }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        try await endpoint.token(scope: scope, tenant: try endpoint.tenant(tenantHint), proof: [("client_secret", secret)], what: "Entra token (client secret)")
    }
}

/// A service principal with a certificate (`client_certificate_path`,
/// `AZURE_CLIENT_CERTIFICATE_PATH`): a PEM file holding the private key and the certificate.
/// Each request carries a fresh RS256 client assertion whose `x5t` is the certificate's SHA-1
/// thumbprint, as Entra expects.
public struct ClientCertificateProvider: AzureTokenProvider {
    let endpoint: EntraTokenEndpoint
    let path: String

    public init(authorityHost: String, tenantID: String?, clientID: String, certificatePath: String, caBundle: String? = nil) {
        endpoint = EntraTokenEndpoint(authorityHost: authorityHost, tenantID: tenantID, clientID: clientID, caBundle: caBundle)
        self.path = certificatePath
    }

    public var name: String { "client certificate \(path) (tenant \(endpoint.tenantLabel), client \(endpoint.clientID))" }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        let tenant = try endpoint.tenant(tenantHint)
        let assertion = try Self.assertion(pemPath: path, clientID: endpoint.clientID, audience: endpoint.url(tenant: tenant))
        return try await endpoint.token(scope: scope, tenant: tenant, proof: EntraTokenEndpoint.assertionProof(assertion), what: "Entra token (client certificate)")
    }

    /// A signed JWT: `{alg: RS256, typ: JWT, x5t}` . `{aud, iss, sub, jti, nbf, exp}`.
    static func assertion(pemPath: String, clientID: String, audience: String, now: Date = Date()) throws(AzureError) -> String {
        guard let pem = try? String(contentsOfFile: pemPath, encoding: .utf8) else {
            throw AzureError(.needsFix, "client_certificate_path: cannot read \(pemPath)")
        }
        guard let keyPEM = PEM.block(in: pem, labelSuffix: "PRIVATE KEY"), let certificate = PEM.der(in: pem, label: "CERTIFICATE") else {
            throw AzureError(.needsFix, "client_certificate_path: \(pemPath) must hold a PEM private key and a PEM certificate")
        }
        let key: _RSA.Signing.PrivateKey
        do { key = try _RSA.Signing.PrivateKey(pemRepresentation: keyPEM) } catch {
            throw AzureError(.needsFix, "client_certificate_path: the private key in \(pemPath) is not an unencrypted RSA key")
        }
        let thumbprint = Data(Insecure.SHA1.hash(data: certificate))
        let issued = Int(now.timeIntervalSince1970)
        let header: [String: Any] = ["alg": "RS256", "typ": "JWT", "x5t": Base64URL.encode(thumbprint)]
        let claims: [String: Any] = ["aud": audience, "iss": clientID, "sub": clientID, "jti": UUID().uuidString,
                                     "nbf": issued, "iat": issued, "exp": issued + 600]
        let encode = { (object: [String: Any]) in Base64URL.encode(Data((try? AnyJSON.encode(object, sortedKeys: true)) ?? [])) }
        let signingInput = encode(header) + "." + encode(claims)
        do {
            let signature = try key.signature(for: Data(signingInput.utf8), padding: .insecurePKCS1v1_5)
            return signingInput + "." + Base64URL.encode(signature.rawRepresentation)
        } catch {
            throw AzureError(.needsFix, "client_certificate_path: signing the client assertion failed: \(error)")
        }
    }
}

/// AKS workload identity: the federated token Kubernetes projects into
/// `AZURE_FEDERATED_TOKEN_FILE` is the client assertion. It is re-read on every request,
/// because the kubelet rotates it.
public struct WorkloadIdentityProvider: AzureTokenProvider {
    let endpoint: EntraTokenEndpoint
    let tokenFile: String

    public init(authorityHost: String, tenantID: String?, clientID: String, tokenFile: String, caBundle: String? = nil) {
        endpoint = EntraTokenEndpoint(authorityHost: authorityHost, tenantID: tenantID, clientID: clientID, caBundle: caBundle)
        self.tokenFile = tokenFile
    }

    public var name: String { "workload identity \(tokenFile) (tenant \(endpoint.tenantLabel), client \(endpoint.clientID))" }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        let tenant = try endpoint.tenant(tenantHint)
        guard let assertion = try? String(contentsOfFile: tokenFile, encoding: .utf8).trimmed, !assertion.isEmpty else {
            throw AzureError(.retryable, "AZURE_FEDERATED_TOKEN_FILE \(tokenFile) is missing or empty (is the service account token projected?)")
        }
        return try await endpoint.token(scope: scope, tenant: tenant, proof: EntraTokenEndpoint.assertionProof(assertion), what: "Entra token (workload identity)")
    }
}

enum PEM {
    /// The whole `-----BEGIN … LABEL-----…-----END … LABEL-----` block whose label ends with `labelSuffix`.
    static func block(in text: String, labelSuffix: String) -> String? {
        var searchStart = text.startIndex
        while let begin = text[searchStart...].firstRange(of: "-----BEGIN ") {
            guard let labelEnd = text[begin.upperBound...].firstRange(of: "-----") else { return nil }
            let label = String(text[begin.upperBound..<labelEnd.lowerBound])
            let endMarker = "-----END \(label)-----"
            guard let end = text[labelEnd.upperBound...].firstRange(of: endMarker) else { return nil }
            if label.hasSuffix(labelSuffix) { return String(text[begin.lowerBound..<end.upperBound]) }
            searchStart = end.upperBound
        }
        return nil
    }

    /// The DER bytes of the first block labelled exactly `label`.
    static func der(in text: String, label: String) -> Data? {
        guard let block = block(in: text, labelSuffix: label), block.hasPrefix("-----BEGIN \(label)-----") else { return nil }
        let body = block.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Data(base64Encoded: body)
    }
}
