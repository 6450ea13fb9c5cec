import Foundation

/// `sys/rotate/config`: rotate the keyring by itself after `maxOperations` encryptions under the
/// active term, or once it is `interval` old (either, when both are set). Stored in the clear
/// (`core/keyring-config`): it holds no secret.
public struct RotationPolicy: Codable, Sendable, Equatable {
    public var enabled: Bool
    /// Encryptions under one term before a new one (0: no limit).
    public var maxOperations: Int
    /// Seconds a term serves before a new one (0: no limit).
    public var intervalSeconds: Int

    public init(enabled: Bool = false, maxOperations: Int = 0, intervalSeconds: Int = 0) {
        self.enabled = enabled
        self.maxOperations = maxOperations
        self.intervalSeconds = intervalSeconds
    }

    enum CodingKeys: String, CodingKey {
        case enabled
        case maxOperations = "max_operations"
        case intervalSeconds = "interval_seconds"
    }
}

extension VaultCore {
    static let rotationPolicyPath = "core/keyring-config"

    public func rotationPolicy() async throws -> RotationPolicy {
        _ = try requireUnsealed()
        guard let data = try await storage.get(Self.rotationPolicyPath) else { return RotationPolicy() }
        return (try? JSONDecoder.vault.decode(RotationPolicy.self, from: Data(data))) ?? RotationPolicy()
    }

    public func setRotationPolicy(_ policy: RotationPolicy) async throws {
        _ = try requireUnsealed()
        guard policy.maxOperations >= 0, policy.intervalSeconds >= 0 else {
            throw VaultError(.badRequest, "max_operations and interval must not be negative")
        }
        if policy.maxOperations > 0 && policy.maxOperations < 1_000 {
            throw VaultError(.badRequest, "max_operations must be at least 1000 (or 0 for no limit); got \(policy.maxOperations)")
        }
        try await storage.apply([.put(Self.rotationPolicyPath, Array(try JSONEncoder.vault.encode(policy)))])
        cachedRotationPolicy = policy
        logger.info("keyring rotation policy set", metadata: [
            "enabled": "\(policy.enabled)", "max_operations": "\(policy.maxOperations)", "interval_seconds": "\(policy.intervalSeconds)",
        ])
    }

    /// Rotates when the policy says the active term is due; returns whether it did. Called by
    /// the server's schedule (interval) and after encryptions (max_operations).
    @discardableResult
    public func rotateIfDue(now: Date = Date()) async throws -> Bool {
        guard keyRing != nil, !rotatingByPolicy else { return false }
        rotatingByPolicy = true
        defer { rotatingByPolicy = false }
        let policy: RotationPolicy
        if let cached = cachedRotationPolicy { policy = cached } else { policy = try await rotationPolicy() }
        cachedRotationPolicy = policy
        guard policy.enabled else { return false }
        let status = try await keyringStatus()
        let byCount = policy.maxOperations > 0 && status.encryptions >= policy.maxOperations
        let byAge = policy.intervalSeconds > 0 && now.timeIntervalSince(status.installTime) >= Double(policy.intervalSeconds)
        guard byCount || byAge else { return false }
        let rotated = try await rotateKeyring()
        logger.info("keyring rotated by its policy", metadata: ["term": "\(rotated.term)", "reason": .string(byCount ? "max_operations" : "interval")])
        return true
    }
}
