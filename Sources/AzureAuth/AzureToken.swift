import LeanFoundation

/// A bearer token for an Azure resource. `description` never shows the token.
public struct AzureToken: Sendable, CustomStringConvertible {
    public let value: String
    public let expiresOn: Date

    public init(value: String, expiresOn: Date) {
        self.value = value
        self.expiresOn = expiresOn
    }

    public var description: String { "AzureToken(expires \(expiresOn))" }
}

/// Something that can get a token for a scope (`https://vault.azure.net/.default`).
public protocol AzureTokenProvider: Sendable {
    /// What `doctor` and logs call it: `client secret (tenant …, client …)`.
    var name: String { get }
    /// - Parameter tenantHint: the tenant Key Vault's challenge named; used by Entra credentials
    ///   configured without `tenant_id` (tenant discovery), ignored by managed identities.
    func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken
}

extension AzureTokenProvider {
    public func token(scope: String) async throws(AzureError) -> AzureToken {
        try await token(scope: scope, tenantHint: nil)
    }
}

/// Caches another provider's tokens per scope and renews them 5 minutes before they expire (or
/// at half their lifetime when that is shorter), so a long-running agent never presents an
/// expired token. ``invalidate()`` drops the cache when Key Vault refused a token anyway.
public actor CachingTokenProvider: AzureTokenProvider {
    public nonisolated let name: String
    private let source: any AzureTokenProvider
    private var cache: [String: (token: AzureToken, fetched: Date)] = [:]

    public init(_ source: any AzureTokenProvider) {
        self.source = source
        self.name = source.name
    }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        let now = Date()
        let key = scope + "|" + (tenantHint ?? "")
        if let entry = cache[key] {
            let lifetime = entry.token.expiresOn.timeIntervalSince(entry.fetched)
            if entry.token.expiresOn.timeIntervalSince(now) > min(300, lifetime / 2) { return entry.token }
        }
        do {
            let fresh = try await source.token(scope: scope, tenantHint: tenantHint)
            cache[key] = (fresh, now)
            return fresh
        } catch {
            // A still-valid token beats none while the token endpoint is away.
            if let entry = cache[key], entry.token.expiresOn.timeIntervalSince(now) > 30 { return entry.token }
            throw error
        }
    }

    public func invalidate() { cache.removeAll() }
}
