import SealKit

/// Shares given toward an operation the seal key authorises (root generation, rekey), kept in
/// the attempt they belong to. A reference, so the actor can fill it across its awaits.
final class KeyAuthorization {
    var shares = UnsealProgress()
    deinit { shares.reset() }
}

extension VaultCore {
    /// The seal key that `text` gives or completes, checked to be this vault's; nil while more
    /// shares are needed. `text` is the whole key (any form: done at once) or a share — of the
    /// unseal shares or of the recovery shares, each set completing at its own threshold. A key
    /// or shares that are not this vault's reset `authorization` and throw `wrongKey`.
    func authorizingKey(_ text: String, collecting authorization: KeyAuthorization) async throws -> SealKey? {
        guard let configuration else { throw VaultError(.notInitialized, "vault is not initialized") }
        let material: UnsealKeyText
        do { material = try UnsealKeyText(parsing: text) } catch { throw VaultError(.badRequest, error.reason) }
        switch consume material {
        case .key(let key):
            guard await verify(key) else {
                authorization.shares.reset()
                throw VaultError(.wrongKey, "the key is not this vault's seal key: progress reset")
            }
            authorization.shares.reset()
            return key
        case .share(let share):
            _ = try authorization.shares.add(share)
            let count = authorization.shares.count
            let thresholds = [configuration.secretThreshold, configuration.recoveryThreshold].filter { $0 > 1 }
            guard let smallest = thresholds.min() else {
                authorization.shares.reset()
                throw VaultError(.badRequest, "this vault has a single key, not shares: give the whole key")
            }
            guard count >= smallest else { return nil }
            if let combined = try? Shamir.combine(authorization.shares.shares), combined.count == SealKey.byteCount,
               let candidate = try? SealKey(bytes: combined), await verify(candidate) {
                authorization.shares.reset()
                return candidate
            }
            // Enough shares for the smaller threshold but not the key: wait for the larger.
            if count < thresholds.max()! { return nil }
            authorization.shares.reset()
            throw VaultError(.wrongKey, "the shares do not combine to this vault's seal key: progress reset")
        }
    }
}
