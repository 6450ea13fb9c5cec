import SealKit

/// The keys an unsealed vault holds, each cloaked in memory (``Cloaked``): the seal key (to
/// wrap new vault master keys and the keyring), and the keyring — term 1 is the system key made
/// at init, each `sys/rotate` adds a term. New records are sealed under the active (newest)
/// term; a record names its term (``Envelope/term(of:)``), so every older one stays readable.
/// Dropping the ring — sealing — wipes them all.
final class KeyRing: Sendable {
    let sealKey: Cloaked
    let systemKey: Cloaked
    /// Terms 2 and later, by number.
    let terms: [UInt32: CloakedKey]
    let activeTerm: UInt32

    init(sealKey: consuming SecretBytes, systemKey: consuming SecretBytes, terms: [UInt32: CloakedKey] = [:]) throws {
        self.sealKey = try Cloaked(sealKey)
        self.systemKey = try Cloaked(systemKey)
        self.terms = terms
        self.activeTerm = terms.keys.max() ?? 1
    }

    /// The same seal key and system key with `terms` (a rotation, a reload).
    func with(terms: [UInt32: CloakedKey]) throws -> KeyRing {
        try KeyRing(sealKey: sealKey.revealed(), systemKey: systemKey.revealed(), terms: terms)
    }

    /// Lends the key of keyring `term` (1: the system key).
    func withTermKey<R>(_ term: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if term == 1 { return try systemKey.reveal(body) }
        guard let key = terms[term] else {
            throw VaultError(.internalError, "a record names keyring term \(term), which this node does not hold: restart it to read the keyring again")
        }
        return try key.key.reveal(body)
    }

    /// Seals `plaintext` under the active term.
    func sealSystem(_ plaintext: [UInt8], aad: String) throws -> [UInt8] {
        try withTermKey(activeTerm) { try Envelope.seal(plaintext, key: $0, aad: aad, term: activeTerm) }
    }

    /// Opens an envelope sealed under any term of the keyring.
    func openSystem(_ envelope: [UInt8], aad: String) throws -> [UInt8] {
        guard let term = Envelope.term(of: envelope) else { throw EnvelopeError.malformed }
        return try withTermKey(term) { try Envelope.open(envelope, key: $0, aad: aad) }
    }
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
