import Foundation
import Logging
import SealKit
import Synchronization

/// The vault: its seal state machine (uninitialized → sealed → unsealed), its keys, and the
/// records it keeps in a ``StorageBackend``.
///
/// The seal key never reaches storage. Init stores only the seal configuration (with the
/// validation hash), the *system key* encrypted under the seal key, and the root token's
/// record; every vault gets a master key encrypted under the seal key, and every secret is
/// encrypted under its vault's master key (see ``Envelope``).
public actor VaultCore {
    public nonisolated let storage: any StorageBackend
    /// The operator-configured hash (`seal_validation_hash`), which wins over the stored one.
    public let configuredValidationHash: ValidationHash?
    let logger: Logger

    var configuration: SealConfiguration?
    var keyRing: KeyRing?
    var masterKeys: [String: CloakedKey] = [:]
    /// Vault records already read (every data request checks its vault's owner): cleared with
    /// the keys at seal, kept exact by create and delete (vaultd is the only writer).
    var vaultRecords: [String: VaultRecord] = [:]
    /// Keys used since unseal, by storage path: the record, and the material cloaked (see
    /// ``CachedKey``). At most ``keyCacheLimit``; cleared at seal.
    var keyCache: [String: CachedKey] = [:]
    static let keyCacheLimit = 4096
    /// Token records by storage key (the token's hash), so a request does not read and decrypt
    /// its token again; removed at revocation, cleared at seal. At most ``keyCacheLimit``.
    var tokenRecords: [String: TokenRecord] = [:]
    /// Bumped by every deletion (vault or key) and revocation, so a read that was suspended
    /// across one does not cache what it fetched before (see ``mayCache(since:)``).
    var deletions = 0
    private var progress = UnsealProgress()
    /// A `sys/generate-root` attempt in progress (see VaultCore+GenerateRoot.swift).
    var rootGeneration: RootGeneration?
    /// A `sys/rekey` in progress, and whether its transaction is being committed; vault
    /// creation and deletion count themselves while they run (VaultCore+Rekey.swift).
    var rekeyAttempt: RekeyAttempt?
    var rekeyCommitting = false
    var sealKeyWritersInFlight = 0
    /// Bumped by every committed rekey: a master key read before one is re-read after it.
    var rekeysCommitted = 0
    /// Encryptions per keyring term since the last rotation (or unseal), for `sys/key-status`.
    var termEncryptions: [UInt32: Int] = [:]
    /// `sys/rotate/config` as last read or set, and whether a rotation it asked for is running.
    var cachedRotationPolicy: RotationPolicy?
    var rotatingByPolicy = false
    /// The audit table as last read (devices and their HMAC keys), the devices the
    /// configuration file declares, and a counter the server compares to know when the table it
    /// holds is stale: bumped at unseal, seal, a new term and every change (VaultCore+Audit.swift).
    var cachedAuditTable: [AuditTableEntry]?
    var declaredAuditDevices: [AuditDeviceRecord] = []
    nonisolated let auditEpochCounter = Mutex<UInt64>(0)
    /// Transitions since start, for `vaultd_unseals_total` and `vaultd_seals_total`.
    nonisolated let transitions = Mutex<(unseals: Int, seals: Int)>((0, 0))
    private var initializing = false

    static let systemKeyPath = "core/system-key"
    static let systemKeyAAD = "vaultd:system-key"

    public init(storage: any StorageBackend, validationHash: ValidationHash? = nil, logger: Logger = Logger(label: "vaultd.core")) {
        self.storage = storage
        self.configuredValidationHash = validationHash
        self.logger = logger
    }

    /// Reads the seal configuration; call once before serving.
    public func load() async throws {
        if let data = try await storage.get(SealConfiguration.storageKey) {
            do {
                configuration = try JSONDecoder.vault.decode(SealConfiguration.self, from: Data(data))
            } catch {
                throw VaultError(.internalError, "the stored seal configuration is unreadable: the database is damaged or not a vaultd database")
            }
        }
    }

    /// Reads the seal configuration again while none is known: on shared storage another node
    /// may have initialised the vault since this one started.
    public func refreshIfUninitialized() async throws {
        if configuration == nil { try await load() }
    }

    /// A new leadership term begins or ends on shared storage: everything cached was filled in an
    /// earlier term, when another node may have written (a token revoked, a vault deleted), so
    /// it all goes, and reads in flight do not put their results back (``mayCache(since:)``).
    /// The keyring stays: it is what unsealing gave, and other nodes cannot change it.
    public func startTerm() async throws {
        dropCaches()
        try await load()
        // Rekeyed on another node while this one stood by: the key it holds opens nothing now.
        if let ring = keyRing, let recorded = configuration.flatMap({ try? ValidationHash(parsing: $0.validationHash) }),
           let held = try? SealKey(bytes: ring.sealKey.revealed()), !recorded.matches(held) {
            seal()
            logger.warning("the seal key was replaced (rekey) while this node was a standby: sealed; unseal it with the new key")
        }
        // Terms another node added (sys/rotate) while this one stood by.
        if let ring = keyRing {
            let terms = try await loadKeyringTerms(sealKey: ring.sealKey)
            if keyRing === ring, terms.count != ring.terms.count { keyRing = try ring.with(terms: terms) }
        }
    }

    /// See ``startTerm()``: a node that stops leading forgets what it cached as well.
    public func dropCaches() {
        cachedRotationPolicy = nil
        cachedAuditTable = nil
        auditTableChanged()
        masterKeys.removeAll()
        vaultRecords.removeAll()
        keyCache.removeAll()
        tokenRecords.removeAll()
        deletions += 1
    }

    /// How many times this process unsealed and sealed the vault (seal at shutdown included).
    public nonisolated var sealTransitions: (unseals: Int, seals: Int) { transitions.withLock { $0 } }

    public var isInitialized: Bool { configuration != nil }
    public var isSealed: Bool { keyRing == nil }

    public func status() -> SealStatus {
        SealStatus(
            type: "shamir",
            initialized: configuration != nil,
            sealed: keyRing == nil,
            threshold: configuration?.secretThreshold ?? 0,
            shares: configuration?.secretShares ?? 0,
            progress: progress.count,
            nonce: progress.nonce,
            version: VaultBuild.version,
            buildDate: VaultBuild.buildDate,
            storageType: storage.kind,
            clusterName: configuration?.clusterName,
            clusterID: configuration?.clusterID,
            recoverySeal: false
        )
    }

    /// The validation hash that pushed keys are checked against: configured, else recorded.
    var expectedValidationHash: ValidationHash? {
        if let configuredValidationHash { return configuredValidationHash }
        guard let recorded = configuration?.validationHash else { return nil }
        return try? ValidationHash(parsing: recorded)
    }

    // MARK: - Init

    /// Initialises the vault: stores its seal configuration, system key and root token in one
    /// transaction. The vault stays sealed afterwards, as Vault's does.
    public func initialize(_ request: InitParameters) async throws -> InitResult {
        try await refreshIfUninitialized()
        guard configuration == nil else { throw VaultError(.conflict, "vault is already initialized") }
        guard !initializing else { throw VaultError(.conflict, "vault is being initialized by another request") }
        initializing = true
        defer { initializing = false }

        try Self.validateShares(request.secretShares, request.secretThreshold, setting: "secret")
        if request.recoveryShares != 0 || request.recoveryThreshold != 0 {
            try Self.validateShares(request.recoveryShares, request.recoveryThreshold, setting: "recovery")
        }

        let generated = request.sealKey == nil
        let sealKey: SealKey
        if let text = request.sealKey {
            do {
                sealKey = try SealKey(parsing: text)
            } catch {
                throw VaultError(.badRequest, "seal_key: \(error.reason)")
            }
        } else {
            sealKey = try SealKey.generate()
        }
        let hash = sealKey.validationHash()
        if let configuredValidationHash, configuredValidationHash != hash {
            throw VaultError(.wrongKey, "seal_key does not match the configured seal_validation_hash")
        }

        let systemKey = try SecretBytes.random(count: 32)
        let systemEnvelope = try sealKey.withUnsafeBytes { sealBytes in
            try systemKey.withUnsafeBytes { try Envelope.seal($0, key: sealBytes, aad: Self.systemKeyAAD) }
        }
        let rootToken = try TokenRecord.newTokenString()
        let rootRecord = TokenRecord(policies: ["root"], vaultIDs: nil, createdAt: Date(), displayName: "root")
        let tokenOperation = try systemKey.withUnsafeBytes { try rootRecord.storageOperation(token: rootToken, systemKey: $0) }

        let newConfiguration = SealConfiguration(
            secretShares: request.secretShares,
            secretThreshold: request.secretThreshold,
            recoveryShares: request.recoveryShares,
            recoveryThreshold: request.recoveryThreshold,
            validationHash: hash.description,
            initializedAt: Date(),
            clusterName: "vaultd-cluster-" + String(UUIDText.random().prefix(8)),
            clusterID: UUIDText.random()
        )
        let configurationData = Array(try JSONEncoder.vault.encode(newConfiguration))

        var (keys, keysBase64) = try Self.shares(of: sealKey, count: request.secretShares, threshold: request.secretThreshold)
        var (recoveryKeys, recoveryBase64) = request.recoveryShares > 0
            ? try Self.shares(of: sealKey, count: request.recoveryShares, threshold: request.recoveryThreshold, forceSplit: true)
            : ([], [])

        do {
            try await storage.applyInitialization([
                .put(Self.systemKeyPath, systemEnvelope),
                tokenOperation,
                .insertNew(SealConfiguration.storageKey, configurationData),
            ])
        } catch is StorageConflict {
            try? await load()  // another node's init won: know it from now on
            keys.removeAll(); keysBase64.removeAll(); recoveryKeys.removeAll(); recoveryBase64.removeAll()
            throw VaultError(.conflict, "vault is already initialized")
        }
        configuration = newConfiguration
        logger.info("vault initialized", metadata: [
            "secret_shares": "\(request.secretShares)", "secret_threshold": "\(request.secretThreshold)",
            "recovery_shares": "\(request.recoveryShares)", "seal_key": .string(generated ? "generated" : "supplied"),
        ])
        return InitResult(
            keys: keys, keysBase64: keysBase64,
            recoveryKeys: recoveryKeys, recoveryKeysBase64: recoveryBase64,
            rootToken: rootToken, validationHash: hash.description,
            phrase: generated && request.secretShares == 1 ? sealKey.phrase() : nil
        )
    }

    static func validateShares(_ shares: Int, _ threshold: Int, setting: String) throws {
        guard (1...255).contains(shares) else {
            throw VaultError(.badRequest, "\(setting)_shares must be between 1 and 255; got \(shares)")
        }
        guard (1...shares).contains(threshold) else {
            throw VaultError(.badRequest, "\(setting)_threshold must be between 1 and \(setting)_shares (\(shares)); got \(threshold)")
        }
        guard shares == 1 || threshold > 1 else {
            throw VaultError(.badRequest, "\(setting)_threshold must be greater than one for multiple shares")
        }
    }

    /// The seal key as `count` shares (hex, base64). One share is the key itself.
    static func shares(of key: borrowing SealKey, count: Int, threshold: Int, forceSplit: Bool = false) throws -> ([String], [String]) {
        if count == 1 && !forceSplit {
            return ([key.encoded(as: .hex)], [key.encoded(as: .base64)])
        }
        let parts = try key.withUnsafeBytes { try Shamir.split($0, shares: count, threshold: threshold) }
        return (parts.map { Hex.encode($0) }, parts.map { Data($0).base64EncodedString() })
    }

    // MARK: - Unseal

    /// Takes a key or a share, as `PUT /v1/sys/unseal {key}` does.
    ///
    /// A whole seal key (phrase, or 32 bytes in hex/base64) unseals at once whatever the
    /// threshold. Shares (33 bytes, Vault's layout) accumulate until the threshold. A key that
    /// fails the validation hash is refused before any decryption; a wrong key resets progress.
    /// Already unsealed: a whole key is still checked, and a wrong one is an error.
    public func submitUnsealKey(_ text: String) async throws -> SealStatus {
        try await refreshIfUninitialized()
        guard let configuration else {
            throw VaultError(.notInitialized, "vault is not initialized")
        }
        let material: UnsealKeyText
        do { material = try UnsealKeyText(parsing: text) } catch { throw VaultError(.badRequest, error.reason) }
        switch consume material {
        case .key(let key):
            try await unseal(with: key, alreadyUnsealedCheck: keyRing != nil)
        case .share(let share):
            if keyRing != nil { return status() }  // a lone share cannot be checked; Vault answers with the status
            guard configuration.secretThreshold > 1 else {
                throw VaultError(.badRequest, "this vault has a single key, not shares: give the whole key")
            }
            _ = try progress.add(share)
            if progress.count >= configuration.secretThreshold {
                let combined: SecretBytes
                do {
                    combined = try Shamir.combine(progress.shares)
                } catch {
                    progress.reset()
                    throw VaultError(.wrongKey, "the shares do not combine: \(error.reason)")
                }
                progress.reset()
                guard combined.count == SealKey.byteCount else {
                    throw VaultError(.wrongKey, "the shares combine to \(combined.count) bytes, not a seal key")
                }
                try await unseal(with: try SealKey(bytes: combined), alreadyUnsealedCheck: false)
            }
        }
        return status()
    }

    /// Forgets the shares given so far.
    public func resetUnseal() -> SealStatus {
        progress.reset()
        return status()
    }

    private func unseal(with key: consuming SealKey, alreadyUnsealedCheck: Bool) async throws {
        if let expected = expectedValidationHash, !expected.matches(key) {
            progress.reset()
            throw VaultError(.wrongKey, "unseal key is wrong: it does not match the validation hash")
        }
        guard let envelope = try await storage.get(Self.systemKeyPath) else {
            throw VaultError(.internalError, "the stored system key is missing: the database is damaged")
        }
        let systemKey: SecretBytes
        do {
            systemKey = try key.withUnsafeBytes { try Envelope.openSecret(envelope, key: $0, aad: Self.systemKeyAAD) }
        } catch {
            progress.reset()
            throw VaultError(.wrongKey, "unseal key is wrong: it cannot decrypt this vault's keyring")
        }
        if alreadyUnsealedCheck { return }
        guard keyRing == nil else { return }  // another request unsealed it meanwhile
        // The keyring's later terms (sys/rotate), opened with the same key.
        let terms = try await loadKeyringTerms(sealKey: try Cloaked(key.duplicate().secretBytes()))
        guard keyRing == nil else { return }
        keyRing = try KeyRing(sealKey: key.secretBytes(), systemKey: systemKey, terms: terms)
        auditTableChanged()
        progress.reset()
        transitions.withLock { $0.unseals += 1 }
        logger.info("vault unsealed")
    }

    /// Wipes every key from memory. Data stays encrypted on disk.
    public func seal() {
        let wasUnsealed = keyRing != nil
        keyRing = nil
        masterKeys.removeAll()
        vaultRecords.removeAll()
        keyCache.removeAll()
        tokenRecords.removeAll()
        progress.reset()
        rootGeneration = nil
        rekeyAttempt = nil
        cachedAuditTable = nil
        auditTableChanged()
        if wasUnsealed {
            transitions.withLock { $0.seals += 1 }
            logger.info("vault sealed")
        }
    }

    /// Whether `key` is this vault's seal key (validation hash, then decryption).
    public func verify(_ key: borrowing SealKey) async -> Bool {
        if let expected = expectedValidationHash, !expected.matches(key) { return false }
        guard let envelope = try? await storage.get(Self.systemKeyPath) else { return false }
        return (try? key.withUnsafeBytes { try Envelope.openSecret(envelope, key: $0, aad: Self.systemKeyAAD) }) != nil
    }

    // MARK: - Helpers for the resource extensions

    func requireUnsealed() throws -> KeyRing {
        guard let keyRing else { throw VaultError.sealedVault }
        return keyRing
    }
}

extension JSONEncoder {
    static var vault: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension JSONDecoder {
    static var vault: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension VaultCore {
    /// Whether a value read after ``deletions`` was `stamp` may go into a cache: the actor is
    /// re-entrant at every storage `await`, and a seal, deletion or revocation in between must
    /// not be undone by the cache (a master key back in memory after seal, a deleted vault
    /// revived).
    func mayCache(since stamp: Int) -> Bool { stamp == deletions && keyRing != nil }
}

extension Dictionary {
    /// Sets `value`, first dropping an arbitrary entry when `limit` entries are held.
    mutating func set(_ value: Value, for key: Key, limit: Int) {
        if count >= limit, self[key] == nil { remove(at: startIndex) }
        self[key] = value
    }
}
