import SealSources
import SealKit
import SealSourceCore

/// What autonomous init does about one uninitialised vault, decided from facts alone — so the
/// races behind it are unit-tested without processes (`InitDecisionTests`).
///
/// The rules, in the order they protect data:
/// 1. Stored material is never replaced: a store that holds something decides for the cluster.
/// 2. A cluster is initialised once. An OpenBao/Vault node of a cluster whose material is stored
///    is *joining* (raft `retry_join`): it reports uninitialised until it has joined, then is
///    unsealed with the cluster's shares — it is never sent a second `sys/init`.
/// 3. vaultd nodes keep their own storage: one whose cluster key is stored is initialised *with
///    that key* (`seal_key`), which creates no new material.
/// 4. If a node of the cluster is initialised but nothing is stored, its key exists nowhere the
///    agent can see: making a second one would only hide that. Refuse, and say so.
public enum InitDecision: Equatable, Sendable {
    /// The cluster is new: make material (vaultd: a key, stored first; OpenBao: `sys/init`).
    case initialiseWithNewMaterial
    /// A vaultd node of a cluster whose key is stored: `sys/init` with that key.
    case initialiseWithStoredKey(String)
    /// An OpenBao/Vault node of an initialised cluster: wait for it to join, then unseal it.
    case waitToJoin
    /// Needs an operator; the message says what to do.
    case refuse(String)
    /// The target was initialised with this material before and now says uninitialised: its
    /// storage is lost. Never answered with an init.
    case storageLost(String)

    public struct Facts: Sendable {
        public var target: String
        public var isVaultd: Bool
        /// Whether the target is declared a node of a cluster (`cluster = "…"`).
        public var inCluster: Bool
        /// The store's name, for messages.
        public var store: String
        /// What the store holds; `nil` when it holds nothing.
        public var stored: SealMaterial?
        /// Other nodes of the cluster that report themselves initialised.
        public var initialisedPeers: [String]
        /// When the target was initialised with the stored material before (``InitRecord``).
        public var initialisedBefore: String?

        public init(target: String, isVaultd: Bool, inCluster: Bool, store: String, stored: SealMaterial?, initialisedPeers: [String], initialisedBefore: String? = nil) {
            self.initialisedBefore = initialisedBefore
            self.target = target
            self.isVaultd = isVaultd
            self.inCluster = inCluster
            self.store = store
            self.stored = stored
            self.initialisedPeers = initialisedPeers
        }
    }

    public static func decide(_ facts: Facts) -> InitDecision {
        let decision = decideIgnoringHistory(facts)
        guard let when = facts.initialisedBefore else { return decision }
        switch decision {
        case .initialiseWithNewMaterial, .initialiseWithStoredKey, .refuse:
            return .storageLost("\(facts.target) was initialised with the material in \(facts.store) (\(when)) and now reports itself uninitialised: its storage was lost or replaced. The agent will not initialise it again — that would make a new, empty vault. Restore its storage; to initialise it anew on purpose, remove its line from \(facts.store)'s .initialised record")
        case .waitToJoin, .storageLost:
            // A raft node whose data is gone may rejoin its cluster: no init is sent.
            return decision
        }
    }

    private static func decideIgnoringHistory(_ facts: Facts) -> InitDecision {
        switch facts.stored {
        case .key(let key)? where facts.isVaultd:
            return .initialiseWithStoredKey(key)
        case .shares? where facts.isVaultd:
            return .refuse("\(facts.store) holds shares but \(facts.target) is an uninitialised vaultd: move the file away to let the agent initialise it")
        case .some where facts.inCluster:
            return .waitToJoin
        case .some:
            return .refuse("\(facts.store) already holds key material but \(facts.target) is uninitialized: it belongs to another vault; move it away to let the agent initialise this one, or, if \(facts.target) is a node joining a cluster, declare the cluster (cluster = \"NAME\" in each of its vault blocks)")
        case nil:
            if let peer = facts.initialisedPeers.first {
                return .refuse("\(peer) is initialised but \(facts.store) holds no key material: its key was stored elsewhere or lost. The agent will not make a second key for \(facts.target); store the cluster's key material in \(facts.store) (unseal-agent wrap, or the file), or initialise by hand")
            }
            return .initialiseWithNewMaterial
        }
    }
}
