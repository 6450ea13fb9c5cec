import LeanFoundation

/// Picks the Azure credential, first that is configured wins:
///
/// 1. the seal block's `client_secret`, then `client_certificate_path` (with `tenant_id`, `client_id`);
/// 2. `AZURE_CLIENT_SECRET`, then `AZURE_CLIENT_CERTIFICATE_PATH` (with `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`);
/// 3. workload identity: `AZURE_FEDERATED_TOKEN_FILE` (AKS);
/// 4. App Service / Container Apps: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`;
/// 5. the VM's managed identity through IMDS (user-assigned by `client_id`, `object_id` or `msi_res_id`).
///
/// ``skipped`` keeps why each earlier kind was not used, for `unseal-agent doctor`.
public struct AzureCredentialChain: Sendable {
    public struct Settings: Sendable {
        public var tenantID: String?
        public var clientID: String?
        public var clientSecret: String?
        public var clientCertificatePath: String?
        public var objectID: String?
        public var resourceID: String?
        public var authorityHost: String
        public var caBundle: String?

        public init(tenantID: String? = nil, clientID: String? = nil, clientSecret: String? = nil, clientCertificatePath: String? = nil,
                    objectID: String? = nil, resourceID: String? = nil, authorityHost: String, caBundle: String? = nil) {
            self.tenantID = tenantID
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.clientCertificatePath = clientCertificatePath
            self.objectID = objectID
            self.resourceID = resourceID
            self.authorityHost = authorityHost
            self.caBundle = caBundle
        }
    }

    public let provider: CachingTokenProvider
    public let skipped: [String]

    public init(settings: Settings, environment: [String: String]) throws(AzureError) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var skipped = [String]()
        let authority = settings.authorityHost
        let tenant = settings.tenantID ?? value("AZURE_TENANT_ID")
        let client = settings.clientID ?? value("AZURE_CLIENT_ID")
        // Without a tenant, Entra credentials take the one Key Vault's challenge names.
        func principal(_ what: String) throws(AzureError) -> (String?, String) {
            guard let client else { throw AzureError(.needsFix, "\(what) needs client_id (or AZURE_CLIENT_ID)") }
            return (tenant, client)
        }
        let chosen: any AzureTokenProvider
        if let secret = settings.clientSecret ?? value("AZURE_CLIENT_SECRET") {
            let (tenant, client) = try principal("client_secret")
            chosen = ClientSecretProvider(authorityHost: authority, tenantID: tenant, clientID: client, secret: secret, caBundle: settings.caBundle)
        } else if let path = settings.clientCertificatePath ?? value("AZURE_CLIENT_CERTIFICATE_PATH") {
            skipped.append("client secret: no client_secret or AZURE_CLIENT_SECRET")
            let (tenant, client) = try principal("client_certificate_path")
            chosen = ClientCertificateProvider(authorityHost: authority, tenantID: tenant, clientID: client, certificatePath: path, caBundle: settings.caBundle)
        } else if let tokenFile = value("AZURE_FEDERATED_TOKEN_FILE") {
            skipped += ["client secret: no client_secret or AZURE_CLIENT_SECRET", "client certificate: no client_certificate_path or AZURE_CLIENT_CERTIFICATE_PATH"]
            let (tenant, client) = try principal("workload identity (AZURE_FEDERATED_TOKEN_FILE)")
            chosen = WorkloadIdentityProvider(authorityHost: authority, tenantID: tenant, clientID: client, tokenFile: tokenFile, caBundle: settings.caBundle)
        } else {
            skipped += ["client secret: no client_secret or AZURE_CLIENT_SECRET", "client certificate: no client_certificate_path or AZURE_CLIENT_CERTIFICATE_PATH",
                        "workload identity: AZURE_FEDERATED_TOKEN_FILE not set"]
            let identity = ManagedIdentitySelector(clientID: client, objectID: settings.objectID, resourceID: settings.resourceID)
            if let endpoint = value("IDENTITY_ENDPOINT"), let header = value("IDENTITY_HEADER") {
                chosen = AppServiceIdentityProvider(endpoint: endpoint, header: header, identity: identity)
            } else {
                skipped.append("App Service identity: IDENTITY_ENDPOINT/IDENTITY_HEADER not set")
                chosen = VMManagedIdentityProvider(endpoint: value("AZURE_POD_IDENTITY_AUTHORITY_HOST") ?? "http://169.254.169.254", identity: identity)
            }
        }
        self.provider = CachingTokenProvider(chosen)
        self.skipped = skipped
    }
}
