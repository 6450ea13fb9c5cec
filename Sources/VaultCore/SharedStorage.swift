import Foundation

/// A term of leadership over ``SharedStorage``. Epochs only grow: a node that takes the lease
/// gets a number no earlier holder had, and every write names it.
public struct LeadershipTerm: Sendable, Equatable, CustomStringConvertible {
    public let epoch: Int64
    public init(epoch: Int64) { self.epoch = epoch }
    public var description: String { "term \(epoch)" }
}

/// Who holds the lease, as the shared storage records it.
public struct LeaderRecord: Sendable, Equatable {
    /// The holder's node id (random per process start).
    public var nodeID: String
    /// The holder's `api_addr`: where standbys forward requests.
    public var address: String
    public var epoch: Int64
    public var activeSince: Date
    /// Whether the lease is still valid now (by the database's clock).
    public var isCurrent: Bool

    public init(nodeID: String, address: String, epoch: Int64, activeSince: Date, isCurrent: Bool) {
        self.nodeID = nodeID
        self.address = address
        self.epoch = epoch
        self.activeSince = activeSince
        self.isCurrent = isCurrent
    }
}

/// Storage that several vaultd nodes share. One node at a time holds a lease on it (the
/// active node); the others are standbys. Every write checks, inside its own transaction, that
/// the writer still holds the lease of the term it thinks it holds, so a node that lost
/// leadership — paused, cut off, or simply slow — cannot write, whatever it believes.
///
/// An optional capability of a ``StorageBackend``, as storing is of a seal source: SQLite does
/// not have it, and vaultd runs without leadership there.
public protocol SharedStorage: StorageBackend {
    /// This process's node id.
    var nodeID: String { get }
    /// How long a lease lasts without renewal.
    var leaseDuration: Duration { get }
    /// Takes the lease when nobody holds a valid one: the new term, or nil while another node
    /// holds it. Writes are accepted under the returned term from then on.
    func acquireLeadership(advertising address: String) async throws -> LeadershipTerm?
    /// Extends the lease of `term`; false once it is no longer this node's (expired, taken).
    func renewLeadership(_ term: LeadershipTerm) async throws -> Bool
    /// Gives the lease up at once (step-down, shutdown). Writes are refused from then on.
    func releaseLeadership(_ term: LeadershipTerm) async
    /// Stops writing under any term: the node found its lease lost, or could not renew in time.
    func forgetLeadership()
    /// The lease as recorded, or nil when no node ever held it.
    func leader() async throws -> LeaderRecord?
}
