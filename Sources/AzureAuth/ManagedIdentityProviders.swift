import LeanFoundation
import HTTPTransport

/// Which managed identity to use when a resource has several: the system-assigned one (all
/// nil), or a user-assigned one by `client_id`, `object_id` or `msi_res_id`.
public struct ManagedIdentitySelector: Sendable, Equatable {
    public var clientID: String?
    public var objectID: String?
    public var resourceID: String?

    public init(clientID: String? = nil, objectID: String? = nil, resourceID: String? = nil) {
        self.clientID = clientID
        self.objectID = objectID
        self.resourceID = resourceID
    }

    func queryItems(resourceIDName: String) -> [(String, String)] {
        if let clientID { return [("client_id", clientID)] }
        if let objectID { return [("object_id", objectID)] }
        if let resourceID { return [(resourceIDName, resourceID)] }
        return []
    }

    var label: String {
        clientID.map { "client \($0)" } ?? objectID.map { "object \($0)" } ?? resourceID.map { "resource \($0)" } ?? "system-assigned"
    }
}

/// The resource a `.default` scope names: `https://vault.azure.net/.default` → `https://vault.azure.net`.
func resource(of scope: String) -> String {
    scope.hasSuffix("/.default") ? String(scope.dropLast("/.default".count)) : scope
}

/// A VM's (or VM scale set's, or AKS node's) managed identity, from the instance metadata
/// service: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with
/// `Metadata: true`. `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves the endpoint, as in Azure's SDKs.
///
/// Azure documents retries on 404 (the identity is still being assigned), 410 (IMDS updating),
/// 429 and 5xx: up to 4 attempts, 0.5 s doubling, or the `Retry-After` it sends.
public struct VMManagedIdentityProvider: AzureTokenProvider {
    public let endpoint: String
    public let identity: ManagedIdentitySelector

    public init(endpoint: String = "http://169.254.169.254", identity: ManagedIdentitySelector = .init()) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.identity = identity
    }

    public var name: String { "VM managed identity (\(identity.label)) at \(endpoint)" }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        let query = AzureHTTP.query([("api-version", "2018-02-01"), ("resource", resource(of: scope))] + identity.queryItems(resourceIDName: "msi_res_id"))
        let request = HTTPClientRequest(method: "GET", url: "\(endpoint)/metadata/identity/oauth2/token?\(query)",
                                        headers: [("Metadata", "true")], connectTimeout: .seconds(1), timeout: .seconds(5))
        var delay = Duration.milliseconds(500)
        for attempt in 1...4 {
            let response = try await AzureHTTP.send(request, what: "managed identity (IMDS at \(endpoint))")
            if [404, 410, 429].contains(response.status) || response.status >= 500, attempt < 4 {
                try? await Task.sleep(for: AzureHTTP.retryAfter(response, cap: 10) ?? delay)
                delay *= 2
                continue
            }
            if response.status == 400 {
                let description = AzureHTTP.json(response)?["error_description"] as? String ?? "bad request"
                throw AzureError(.needsFix, code: "invalid_request", "managed identity (\(identity.label)) refused: \(description) — is the identity assigned to this VM? (client_id, object_id or msi_res_id)")
            }
            return try AzureHTTP.token(from: response, what: "managed identity (IMDS)")
        }
        throw AzureError(.retryable, "managed identity: IMDS kept failing")
    }
}

/// App Service, Azure Functions and Container Apps: `IDENTITY_ENDPOINT` with the secret
/// `IDENTITY_HEADER` sent as `X-IDENTITY-HEADER` (api-version 2019-08-01).
public struct AppServiceIdentityProvider: AzureTokenProvider {
    public let endpoint: String
    let header: String
    public let identity: ManagedIdentitySelector

    public init(endpoint: String, header: String, identity: ManagedIdentitySelector = .init()) {
        self.endpoint = endpoint
        self.header = header
        self.identity = identity
    }

    public var name: String { "App Service managed identity (\(identity.label)) at \(endpoint)" }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        let query = AzureHTTP.query([("api-version", "2019-08-01"), ("resource", resource(of: scope))] + identity.queryItems(resourceIDName: "mi_res_id"))
        let separator = endpoint.contains("?") ? "&" : "?"
        let response = try await AzureHTTP.send(HTTPClientRequest(
            method: "GET", url: endpoint + separator + query, headers: [("X-IDENTITY-HEADER", header)],
            connectTimeout: .seconds(2), timeout: .seconds(10)
        ), what: "App Service identity endpoint")
        return try AzureHTTP.token(from: response, what: "App Service identity endpoint")
    }
}
