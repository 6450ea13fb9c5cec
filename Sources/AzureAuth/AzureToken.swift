import LeanFoundation
import SealKit

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
/// Cached tokens are cloaked (``CloakedText``) between requests.
public actor CachingTokenProvider: AzureTokenProvider {
    public nonisolated let name: String
    private let source: any AzureTokenProvider
    private var cache: [String: Entry] = [:]

    private struct Entry {
        let value: CloakedText
        let expiresOn: Date
        let fetched: Date

        var token: AzureToken? { (try? value.reveal()).map { AzureToken(value: $0, expiresOn: expiresOn) } }
    }

    public init(_ source: any AzureTokenProvider) {
        self.source = source
        self.name = source.name
    }

    public func token(scope: String, tenantHint: String?) async throws(AzureError) -> AzureToken {
        let now = Date()
        let key = scope + "|" + (tenantHint ?? "")
        if let entry = cache[key] {
            let lifetime = entry.expiresOn.timeIntervalSince(entry.fetched)
            if entry.expiresOn.timeIntervalSince(now) > min(300, lifetime / 2), let token = entry.token { return token }
        }
        do {
            let fresh = try await source.token(scope: scope, tenantHint: tenantHint)
            // Not cached if it cannot be cloaked (no memory for the page): fetched again next time.
            cache[key] = (try? CloakedText(fresh.value)).map { Entry(value: $0, expiresOn: fresh.expiresOn, fetched: now) }
            return fresh
        } catch {
            // A still-valid token beats none while the token endpoint is away.
            if let entry = cache[key], entry.expiresOn.timeIntervalSince(now) > 30, let token = entry.token { return token }
            throw error
        }
    }

    public func invalidate() { cache.removeAll() }
}
