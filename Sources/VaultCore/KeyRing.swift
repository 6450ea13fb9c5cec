import SealKit

/// The keys an unsealed vault holds, each cloaked in memory (``Cloaked``): the seal key (to
/// wrap new vault master keys), the system key (tokens and vault metadata) and the master keys
/// of the vaults used so far. Dropping the ring — sealing — wipes them all.
final class KeyRing: Sendable {
    let sealKey: Cloaked
    let systemKey: Cloaked

    init(sealKey: consuming SecretBytes, systemKey: consuming SecretBytes) throws {
        self.sealKey = try Cloaked(sealKey)
        self.systemKey = try Cloaked(systemKey)
    }
}

/// A reference wrapper so cloaked master keys can live in a dictionary.
final class CloakedKey: Sendable {
    let key: Cloaked
    init(_ key: consuming SecretBytes) throws { self.key = try Cloaked(key) }
}

/// The unseal shares received so far, Vault-style: a nonce names the attempt, a reset or a
/// completed attempt wipes them.
struct UnsealProgress {
    private(set) var shares: [[UInt8]] = []
    private(set) var nonce = ""

    var count: Int { shares.count }

    /// Adds a share unless an identical one is already held; returns whether it was new.
    mutating func add(_ share: [UInt8]) throws -> Bool {
        if shares.contains(where: { ConstantTime.equals($0, share) }) { return false }
        if let x = share.last, shares.contains(where: { $0.last == x }) {
            throw VaultError(.badRequest, "this share has the same x coordinate as one already given, but different contents: it is not a share of this key")
        }
        if let first = shares.first, first.count != share.count {
            throw VaultError(.badRequest, "this share is \(share.count) bytes but the earlier ones are \(first.count)")
        }
        if shares.isEmpty { nonce = UUIDText.random() }
        shares.append(share)
        return true
    }

    mutating func reset() {
        for index in shares.indices { shares[index].wipe() }
        shares = []
        nonce = ""
    }
}

enum UUIDText {
    /// A random RFC 4122 version-4 UUID in lower case.
    static func random() -> String {
        var bytes = (try? SystemRandom.bytes(16)) ?? Array(repeating: 0, count: 16)
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = Hex.encode(bytes)
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }
}
