import DurableFile
import HTTPTransport
import LeanFoundation
import Logging
import SealKit
import SealSourceCore
import VaultClient
import VaultWire

/// `unseal-agent rekey`: a new seal key for every vaultd the agent keeps unsealed, without a
/// moment in which a crash of the agent or of a vault loses the key.
///
/// 1. The new key is stored first, as **pending**, beside the current one (`PATH.pending`,
///    create-if-absent; a pending key an interrupted run left is reused).
/// 2. Each vault is rekeyed to it with vaultd's `seal_key` (one transaction per vault),
///    authorised by the current key — or, for a vault already on the pending key (an earlier
///    run, a node of a cluster rekeyed through another), by the pending one.
/// 3. Only when every vault holds it is the pending key **promoted**: written over the current
///    one, then the pending file removed.
///
/// Meanwhile the agent's loop tries the current key and then the pending one, so every vault
/// unseals whichever it holds. A run that stops anywhere is finished by running it again.
public struct AgentRekey: Sendable {
    public struct Outcome: Sendable {
        public var rekeyed: [String] = []
        public var alreadyOnNewKey: [String] = []
        public var validationHash = ""
        public var resumed = false
    }

    let configuration: AgentConfiguration
    let logger: Logger

    public init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws -> Outcome {
        guard let store = configuration.sources.first(where: { $0 is any StoringSealSource }) as? any StoringSealSource,
              let pending = store.pending() else {
            throw SealSourceError(.needsFix, "rekey needs a seal source that keeps its material in a file on this host (seal \"file\", seal \"awskms\", seal \"azurekeyvault\" in unwrap mode): the new key is stored beside the current one before any vault uses it")
        }
        guard !configuration.targets.isEmpty else { throw SealSourceError(.needsFix, "no vault is configured") }
        // One rekey (or init) at a time for this material.
        let lock = try await ShareCustody.initLock(for: store)
        defer { withExtendedLifetime(lock) {} }

        let clients = try configuration.targets.map { target in
            (target.address, VaultClient(address: try VaultAddress(target.address), timeout: .seconds(60), caBundlePath: target.caCert))
        }
        // Every vault first: all vaultd, all unsealed — before anything is stored or changed.
        // A standby shares its active node's storage: the active node's rekey covers it, and a
        // rekey sent to it would be forwarded over TCP, where seal operations are not taken.
        var actives = [(String, VaultClient)]()
        var standbys = [(address: String, clusterID: String, leader: String)]()
        for (address, client) in clients {
            let status: SealStatusResponse
            do { status = try await client.sealStatus() } catch {
                throw SealSourceError(.retryable, "\(address) does not answer (\(error)); nothing was changed")
            }
            guard status.implementation == "vaultd" else {
                throw SealSourceError(.needsFix, "\(address) is not vaultd: the agent rekeys vaultd only (for OpenBao/Vault use bao operator rekey, then store the new shares in the seal source); nothing was changed")
            }
            guard status.initialized, !status.sealed else {
                throw SealSourceError(.needsFix, "\(address) is \(status.initialized ? "sealed" : "not initialised"): rekey needs every vault unsealed; nothing was changed")
            }
            let leader = try? await client.call("GET", "/v1/sys/leader", as: LeaderResponse.self)
            if let leader, leader.haEnabled, !leader.isSelf {
                standbys.append((address, status.clusterID ?? "", leader.leaderAddress))
            } else {
                actives.append((address, client))
            }
        }
        var activeClusters = Set<String>()
        for (_, client) in actives { if let id = try? await client.sealStatus().clusterID { activeClusters.insert(id) } }
        for standby in standbys where !activeClusters.contains(standby.clusterID) {
            throw SealSourceError(.needsFix, "\(standby.address) is a standby, and its active node (\(standby.leader)) is not among this configuration's vaults: run unseal-agent rekey with the active node's unix socket configured; nothing was changed")
        }

        let current = try await store.fetch()
        guard case .key(let currentKey) = current else {
            throw SealSourceError(.needsFix, "\(store.name) holds shares, not a key: the agent rekeys vaults it holds a whole key for")
        }
        var outcome = Outcome()
        let newKey: String
        if let left = try await ShareCustody.stored(in: pending) {
            guard case .key(let key) = left else { throw SealSourceError(.needsFix, "\(pending.name) holds shares: remove it by hand after checking no vault uses it") }
            newKey = key
            outcome.resumed = true
            logger.notice("resuming an interrupted rekey with the pending key it stored", metadata: ["pending": "\(pending.localPath ?? "")"])
        } else {
            let made = try SealKey.generate().phrase()
            switch try await pending.storeIfAbsent(.key(made)) {
            case .stored: newKey = made
            case .alreadyHeld(let held):
                guard case .key(let key) = held else { throw SealSourceError(.needsFix, "\(pending.name) holds shares") }
                newKey = key
            }
        }
        outcome.validationHash = (try? SealKey(parsing: newKey).validationHash().description) ?? ""

        for (address, client) in actives {
            if try await rekey(client, from: currentKey, to: newKey, address: address) {
                outcome.rekeyed.append(address)
            } else if try await rekey(client, from: newKey, to: newKey, address: address) {
                // Authorised by the new key: this vault was rekeyed already (the rekey to the
                // same key changed nothing but proved it).
                outcome.alreadyOnNewKey.append(address)
            } else {
                throw SealSourceError(.needsFix, "\(address) holds neither the key in \(store.name) nor the pending one: nothing more was changed; the pending key stays in \(pending.localPath ?? pending.name)")
            }
        }

        // Standbys share the storage just rekeyed through their active node; each seals itself
        // when it next becomes active, and its agent unseals it with the new key.
        outcome.alreadyOnNewKey += standbys.map { "\($0.address) (a standby: its active node was rekeyed)" }

        // Every vault holds the new key: it becomes the current one, then the pending copy goes.
        try await store.replace(with: .key(newKey))
        try pending.removeLocalMaterial()
        logger.notice("rekey complete: the new key is the current one", metadata: [
            "source": "\(store.name)", "validation_hash": "\(outcome.validationHash)",
            "rekeyed": "\(outcome.rekeyed.count)", "already_on_new_key": "\(outcome.alreadyOnNewKey.count)",
        ])
        return outcome
    }

    /// Rekeys the vault at `client` to `newKey`, authorised by `key`. False when the vault
    /// refuses `key` (it holds another), true once it holds `newKey`.
    private func rekey(_ client: VaultClient, from key: String, to newKey: String, address: String) async throws -> Bool {
        // A rekey another run left open is cancelled: its new key is not ours to finish.
        _ = try? await client.exchange("DELETE", "/v1/sys/rekey/init")
        let started: RekeyResponse
        do {
            started = try await client.call("PUT", "/v1/sys/rekey/init", body: RekeyInitRequest(secretShares: 1, secretThreshold: 1, sealKey: newKey), as: RekeyResponse.self)
        } catch let error as VaultClient.APIError {
            throw SealSourceError(.needsFix, "\(address) refused to start a rekey: \(error)")
        }
        do {
            let done = try await client.call("PUT", "/v1/sys/rekey/update", body: NonceKeyRequest(key: key, nonce: started.nonce), as: RekeyResponse.self)
            guard done.complete else { throw SealSourceError(.needsFix, "\(address) did not complete the rekey with a whole key") }
            return true
        } catch let error as VaultClient.APIError where error.status == 400 {
            _ = try? await client.exchange("DELETE", "/v1/sys/rekey/init")
            return false
        } catch let error as VaultClient.APIError {
            throw SealSourceError(error.status == 429 ? .needsFix : .retryable, "\(address) failed the rekey: \(error)")
        }
    }
}
