import LeanFoundation
import SealKit
import SealSourceCore
import Logging
import DurableFile
import SealSources
import VaultClient
import VaultWire

/// The irreversible step of initialising OpenBao/Vault: `sys/init` answers with the only copy
/// of the unseal shares, so whoever sends it must live until they are stored.
///
/// The agent hands this step to a separate process, the *init custodian* (``InitCustodian``,
/// `unseal-agent init-custodian`): a `kill -9` of the agent after the request is sent — while
/// OpenBao spends seconds initialising — then no longer loses the shares. The custodian ignores
/// SIGTERM, SIGINT, SIGHUP and SIGPIPE, and retries the store until it succeeds.
public struct ShareCustody: Sendable {
    let client: VaultClient
    let store: any StoringSealSource
    let rootTokenPath: String?
    let retry: RetryPolicy
    let logger: Logger
    let target: String
    /// The other nodes of the target's cluster (empty outside a cluster).
    let peers: [VaultClient]

    public init(client: VaultClient, store: any StoringSealSource, rootTokenPath: String?, retry: RetryPolicy, logger: Logger, target: String, peers: [VaultClient] = []) {
        self.client = client
        self.store = store
        self.rootTokenPath = rootTokenPath
        self.retry = retry
        self.logger = logger
        self.target = target
        self.peers = peers
    }

    /// What ``initialize(_:)`` did.
    public enum Outcome: Sendable, Equatable {
        /// `sys/init` was sent and this many shares were stored.
        case initialised(shares: Int)
        /// The cluster is initialised already (its material is stored): nothing was sent.
        case joining
    }

    /// Decides, under the init lock, whether the target may be initialised at all; if so sends
    /// `sys/init` with `request`, stores the shares, then the root token.
    ///
    /// The lock is held from the decision until the shares are stored, so an agent restarted
    /// meanwhile (whose own custodian waits here) finds the shares instead of an empty store.
    public func initialize(_ request: InitRequest) async throws -> Outcome {
        let lock = try await Self.initLock(for: store)
        defer { withExtendedLifetime(lock) {} }

        let facts = InitDecision.Facts(
            target: target, isVaultd: false, inCluster: !peers.isEmpty, store: store.name,
            stored: try await Self.stored(in: store), initialisedPeers: await Self.initialised(peers),
            initialisedBefore: Self.initialisedBefore(target, store: store)
        )
        switch InitDecision.decide(facts) {
        case .waitToJoin: return .joining
        case .refuse(let message): throw SealSourceError(.needsFix, message)
        case .storageLost(let message): throw SealSourceError(.storageLost, message)
        case .initialiseWithStoredKey: throw SealSourceError(.needsFix, "\(target) is not an OpenBao/Vault server")
        case .initialiseWithNewMaterial: break
        }
        // Under the lock, the target itself may have moved on (joined, or been initialised by an
        // operator) since the agent looked.
        if (try? await client.sealStatus())?.initialized == true { return .joining }

        let result = try await client.initialize(request)
        let shares = result.keysBase64
        guard !shares.isEmpty else {
            throw SealSourceError(.needsFix, "\(target) answered init without keys_base64 (is it using an auto-unseal seal?)")
        }
        // The shares exist only in this process now: store them before anything else, and
        // never give up.
        var conflict: SealMaterial?
        await Self.untilStored(retry: retry) {
            do throws(SealSourceError) {
                if case .alreadyHeld(let held) = try await store.storeIfAbsent(.shares(shares)) { conflict = held }
            } catch {
                logger.error("cannot store the new unseal shares; retrying (the vault is initialised: do not stop the agent)", metadata: ["target": "\(target)", "error": "\(error.message)"])
                throw error
            }
        }
        if conflict != nil {
            // Only possible when a writer outside every lock (another host) filled the store
            // between the decision and now. Its material is kept; ours must not vanish either.
            let aside = try await Self.keepAside(.shares(shares), beside: store, retry: retry, logger: logger)
            throw SealSourceError(.needsFix, "\(target) was initialised, but \(store.name) was filled meanwhile by another writer and was left as it is; the new shares were kept in \(aside ?? "nowhere (the store has no local file)") — decide which cluster to keep")
        }
        Self.recordInitialised(target, store: store, logger: logger)
        await Self.keepRootToken(result.rootToken, at: rootTokenPath, retry: retry, logger: logger)
        return .initialised(shares: shares.count)
    }

    /// When `target` was initialised with `store`'s material (``InitRecord``), if it was.
    static func initialisedBefore(_ target: String, store: any StoringSealSource) -> String? {
        store.localPath.flatMap { InitRecord.load(beside: $0)[target] }
    }

    /// Notes that `target` is initialised with `store`'s material. A failure is logged, not
    /// thrown: the init itself succeeded and its material is stored.
    static func recordInitialised(_ target: String, store: any StoringSealSource, logger: Logger) {
        guard let local = store.localPath else { return }
        do { try InitRecord.add(target, beside: local) } catch {
            logger.warning("cannot record the init beside the material; a later loss of this vault's storage will not be recognised", metadata: ["target": "\(target)", "error": "\(error)"])
        }
    }

    /// The init lock of `store` (``InitLock``), taken; `nil` for a store with no local file.
    static func initLock(for store: any StoringSealSource) async throws(SealSourceError) -> InitLock? {
        guard let path = store.initLockPath else { return nil }
        do { return try await InitLock.acquire(path) } catch {
            throw SealSourceError(.retryable, "cannot take the init lock: \(error)", setting: "path")
        }
    }

    /// What `store` holds, or nil when it holds nothing yet.
    static func stored(in store: any StoringSealSource) async throws(SealSourceError) -> SealMaterial? {
        do { return try await store.fetch() } catch where error.errorClass == .notFound { return nil }
    }

    /// The addresses of `peers` that answer and report themselves initialised.
    static func initialised(_ peers: [VaultClient]) async -> [String] {
        var found = [String]()
        for var peer in peers {
            peer.timeout = .seconds(2)
            if (try? await peer.sealStatus())?.initialized == true { found.append(peer.address.description) }
        }
        return found
    }

    /// Writes `material` to a new file beside the store's own (mode 0600), for the operator.
    static func keepAside(_ material: SealMaterial, beside store: any StoringSealSource, retry: RetryPolicy, logger: Logger) async throws -> String? {
        guard let local = store.localPath else { return nil }
        let path = local + ".conflict-\(UTCTime.compact(Date()))"
        await untilStored(retry: retry) {
            do { try AtomicFile.write(Array(material.storedText.utf8), to: path, mode: 0o600, replacing: false) } catch {
                logger.error("cannot keep the new shares aside; retrying", metadata: ["path": "\(path)", "error": "\(error)"])
                throw error
            }
        }
        return path
    }

    /// Stores the root token where `init { root_token = "file:…" }` says, retrying until it is.
    /// With `root_token = "discard"` it says how to make one later: a vault nobody holds a
    /// root token for can still be administered, through its seal key.
    static func keepRootToken(_ token: String?, at path: String?, retry: RetryPolicy, logger: Logger) async {
        guard let token else { return }
        guard let path else {
            logger.notice("the root token was discarded (init root_token = \"discard\"); to administer the vault later, make a new one with its seal key or shares: bao operator generate-root -init, then give the key (or shares) with -nonce, then -decode with the OTP (docs/operations.md, \"Root token regeneration\")")
            return
        }
        await untilStored(retry: retry) {
            do { try AtomicFile.write(Array((token + "\n").utf8), to: path, mode: 0o600) } catch {
                logger.error("cannot store the root token; retrying", metadata: ["path": "\(path)", "error": "\(error)"])
                throw error
            }
        }
    }

    /// Runs `store` until it succeeds, waiting `retry`'s backoff between attempts: what it
    /// stores exists nowhere else.
    private static func untilStored(retry: RetryPolicy, _ store: () async throws -> Void) async {
        var attempt = 0
        while (try? await store()) == nil {
            try? await Task.sleep(for: retry.delay(attempt))
            attempt += 1
        }
    }
}

/// How the agent starts its init custodian: this executable with `init-custodian` and the
/// agent's own configuration arguments. The `sys/init` request goes in on standard input as
/// JSON; the custodian answers one JSON line, an ``InitCustodianAnswer``.
public struct InitCustodian: Sendable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    /// Runs the custodian for `target` and waits for its answer.
    func initialize(target: String, request: InitRequest) async throws -> ShareCustody.Outcome {
        // No deadline: the custodian holds the only copy of the shares until it has stored
        // them, and must never be killed for taking long (OpenBao's init alone may take minutes).
        let outcome = try await ProcessRunner.run(executable, arguments + ["--target", target], input: try WireJSON.encode(request), timeout: nil)
        let status = outcome.status
        let answer = WireJSON.decode(InitCustodianAnswer.self, from: outcome.output)
        if status == 0, let shares = answer?.shares { return .initialised(shares: shares) }
        if status == 0, answer?.joining == true { return .joining }
        let message = answer?.error ?? "the init custodian exited with status \(status)"
        let errorClass = answer?.errorClass.flatMap(SealSourceError.Class.init(rawValue:)) ?? .retryable
        throw SealSourceError(errorClass, message)
    }
}

/// The init custodian's one line on standard output: the shares stored, a join, or an error with
/// its class (``SealSourceError/Class``).
public struct InitCustodianAnswer: Codable, Sendable, Equatable {
    public var shares: Int?
    public var joining: Bool?
    public var error: String?
    public var errorClass: String?

    public init(shares: Int? = nil, joining: Bool? = nil, error: String? = nil, errorClass: String? = nil) {
        self.shares = shares
        self.joining = joining
        self.error = error
        self.errorClass = errorClass
    }

    enum CodingKeys: String, CodingKey {
        case shares, joining, error, errorClass = "class"
    }
}
