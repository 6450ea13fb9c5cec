import AzureAuth
import Foundation
import TestSupport
import Testing

/// The fake must first satisfy Microsoft's own clients; then our token providers and Key Vault
/// client are judged against it.
@Suite("Azure", .enabled(if: TestEnvironment.shouldRunOracleTests("azure.identity", "azure.keyvault.secrets", "azure.keyvault.keys"), "needs the azure oracles: run scripts/test"))
struct AzureFakeTests {
    @Test("the fake answers azure-identity (five credential kinds), SecretClient and CryptographyClient as Azure does")
    func officialClientsAgree() async throws {
        let fake = try await AzureFake.start()
        let setup = String(decoding: try JSONSerialization.data(withJSONObject: fake.setup), as: UTF8.self)
        let script = try String(contentsOf: TestEnvironment.packageRoot.appendingPathComponent("Tests/AzureAuthTests/Oracle/azure_proof.py"), encoding: .utf8)
        let result = try await TestEnvironment.runOracle(script, arguments: [String(fake.server.port), setup], input: "")
        let answers = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String]
        #expect(answers != nil, "\(result.stdout)\(result.stderr)")
        for (name, outcome) in answers ?? [:] {
            #expect(outcome == "ok", "\(name): \(outcome)")
        }
        #expect(answers?.count == 10)
    }

    static func provider(_ kind: String, fake: AzureFake) throws -> CachingTokenProvider {
        var environment = fake.environment(for: kind)
        environment["AZURE_AUTHORITY_HOST"] = nil
        let settings = AzureCredentialChain.Settings(authorityHost: fake.httpsURL, caBundle: fake.caCert)
        return try AzureCredentialChain(settings: settings, environment: environment).provider
    }

    @Test("each credential kind gets a token that Key Vault accepts: set, get, wrap, unwrap", arguments: AzureFake.credentialKinds)
    func credentialKinds(kind: String) async throws {
        let fake = try await AzureFake.start()
        let client = KeyVaultClient(vaultURI: fake.httpsURL, credentials: try Self.provider(kind, fake: fake), verifyChallengeResource: false, caBundle: fake.caCert)
        try await client.setSecret("unseal", value: "value-\(kind)")
        #expect(try await client.getSecret("unseal") == "value-\(kind)")
        let secret = Array((0..<32).map { UInt8($0) })
        let wrapped = try await client.wrapKey("unseal-wrap", plaintext: secret)
        #expect(wrapped.keyID.hasPrefix(fake.httpsURL + "/keys/unseal-wrap/"))
        #expect(try await client.unwrapKey(wrapped.keyID, blob: wrapped.blob) == secret)
    }

    @Test("a missing secret is notFound; a 403 names the permission; a hostile challenge resource is refused")
    func errors() async throws {
        let fake = try await AzureFake.start()
        let provider = try Self.provider("client_secret", fake: fake)
        let client = KeyVaultClient(vaultURI: fake.httpsURL, credentials: provider, verifyChallengeResource: false, caBundle: fake.caCert)
        let missing = await #expect(throws: AzureError.self) { _ = try await client.getSecret("absent") }
        #expect(missing?.errorClass == .notFound)
        #expect(missing?.serviceCode == "SecretNotFound")
        try await fake.control(["forbid": ["secrets/get"]])
        let denied = await #expect(throws: AzureError.self) { _ = try await client.getSecret("absent") }
        #expect(denied?.errorClass == .needsFix)
        #expect(denied?.message.contains("secrets get") == true)
        // With verification on, 127.0.0.1 is not in vault.azure.net: no token is asked for.
        let strict = KeyVaultClient(vaultURI: fake.httpsURL, credentials: provider, caBundle: fake.caCert)
        let hostile = await #expect(throws: AzureError.self) { _ = try await strict.getSecret("x") }
        #expect(hostile?.message.contains("disable_challenge_resource_verification") == true)
    }

    @Test("429 with Retry-After: 2 is waited out; 500 is retryable")
    func throttling() async throws {
        let fake = try await AzureFake.start()
        let client = KeyVaultClient(vaultURI: fake.httpsURL, credentials: try Self.provider("client_secret", fake: fake), verifyChallengeResource: false, caBundle: fake.caCert)
        try await client.setSecret("s", value: "v")
        try await fake.control(["faults": [["op": "secrets/get", "status": 429, "retry_after": 2]]])
        let started = ContinuousClock.now
        #expect(try await client.getSecret("s") == "v")
        let waited = ContinuousClock.now - started
        #expect(waited >= .seconds(2), "Retry-After not honoured: \(waited)")
        try await fake.control(["faults": [["op": "secrets/get", "status": 500]]])
        let error = await #expect(throws: AzureError.self) { _ = try await client.getSecret("s") }
        #expect(error?.errorClass == .retryable)
    }

    @Test("an expired token is renewed on Key Vault's 401 without surfacing an error")
    func expiredToken() async throws {
        let fake = try await AzureFake.start()
        let client = KeyVaultClient(vaultURI: fake.httpsURL, credentials: try Self.provider("workload_identity", fake: fake), verifyChallengeResource: false, caBundle: fake.caCert)
        try await client.setSecret("s", value: "v")
        try await fake.control(["expire_tokens": true, "clear_log": true])
        #expect(try await client.getSecret("s") == "v")
        let log = try await fake.log()
        #expect(log.map { $0["authorised"] as? Bool } == [false, true], "\(log)")
    }

    @Test("without tenant_id, the tenant comes from Key Vault's challenge (tenant discovery)")
    func tenantDiscovery() async throws {
        let fake = try await AzureFake.start()
        var environment = fake.environment(for: "client_certificate")
        environment["AZURE_TENANT_ID"] = nil
        let provider = try AzureCredentialChain(settings: .init(authorityHost: fake.httpsURL, caBundle: fake.caCert), environment: environment).provider
        #expect(provider.name.contains("from Key Vault's challenge"))
        let client = KeyVaultClient(vaultURI: fake.httpsURL, credentials: provider, verifyChallengeResource: false, caBundle: fake.caCert)
        try await client.setSecret("s", value: "v")
        #expect(try await client.getSecret("s") == "v")
    }

    @Test("VM managed identity: 404 (identity being assigned), 429 with Retry-After and 500 are retried; 400 names the identity settings")
    func vmIdentityRetries() async throws {
        let fake = try await AzureFake.start()
        try await fake.control(["faults": [["op": "identity/vm", "status": 404], ["op": "identity/vm", "status": 429, "retry_after": 1],
                                           ["op": "identity/vm", "status": 500]]])
        let token = try await VMManagedIdentityProvider(endpoint: fake.httpURL).token(scope: "https://vault.azure.net/.default")
        #expect(!token.value.isEmpty)
        let calls = try await fake.log().filter { $0["op"] as? String == "identity/vm" }
        #expect(calls.count == 4, "\(calls)")
        let unknown = VMManagedIdentityProvider(endpoint: fake.httpURL, identity: .init(clientID: "not-assigned"))
        let error = await #expect(throws: AzureError.self) { _ = try await unknown.token(scope: "https://vault.azure.net/.default") }
        #expect(error?.errorClass == .needsFix)
        #expect(error?.message.contains("client_id") == true)
    }

    @Test("Bearer challenges parse; clouds are known by Vault's names")
    func parsing() {
        let challenge = KeyVaultClient.parseChallenge(#"Bearer authorization="https://login.microsoftonline.com/72f988bf", resource="https://vault.azure.net""#)
        #expect(challenge?["authorization"] == "https://login.microsoftonline.com/72f988bf")
        #expect(challenge?["resource"] == "https://vault.azure.net")
        #expect(KeyVaultClient.parseChallenge("Basic realm=x") == nil)
        #expect(AzureCloud.named("AzureUSGovernmentCloud")?.vaultSuffix == "vault.usgovcloudapi.net")
        #expect(AzureCloud.named("azurechinacloud")?.authorityHost == "https://login.chinacloudapi.cn")
        #expect(AzureCloud.named("Mars") == nil)
    }
}
