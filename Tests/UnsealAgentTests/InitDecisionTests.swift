import Foundation
import SealKit
import SealSourceCore
import SealSources
import Testing
@testable import UnsealAgent

/// The init rules, deterministically: every combination of what the store holds, what kind of
/// vault the target is, whether it is in a cluster and whether a peer is initialised.
@Suite("autonomous init: the decision")
struct InitDecisionTests {
    static func facts(vaultd: Bool, cluster: Bool, stored: SealMaterial?, peers: [String] = []) -> InitDecision.Facts {
        InitDecision.Facts(target: "unix:///n2.sock", isVaultd: vaultd, inCluster: cluster, store: "file:/k", stored: stored, initialisedPeers: peers)
    }

    @Test("an empty store and no initialised peer: a new cluster, whatever the vault")
    func newCluster() {
        for vaultd in [true, false] {
            for cluster in [true, false] {
                #expect(InitDecision.decide(Self.facts(vaultd: vaultd, cluster: cluster, stored: nil)) == .initialiseWithNewMaterial)
            }
        }
    }

    @Test("stored material is never replaced: vaultd adopts the stored key, an OpenBao node of the cluster joins")
    func storedMaterialDecides() {
        #expect(InitDecision.decide(Self.facts(vaultd: true, cluster: true, stored: .key("k"))) == .initialiseWithStoredKey("k"))
        #expect(InitDecision.decide(Self.facts(vaultd: true, cluster: false, stored: .key("k"))) == .initialiseWithStoredKey("k"))
        #expect(InitDecision.decide(Self.facts(vaultd: false, cluster: true, stored: .shares(["a", "b"]))) == .waitToJoin)
        #expect(InitDecision.decide(Self.facts(vaultd: false, cluster: true, stored: .key("k"))) == .waitToJoin)
        // A stored key always wins over what peers say.
        #expect(InitDecision.decide(Self.facts(vaultd: false, cluster: true, stored: .shares(["a"]), peers: ["n1"])) == .waitToJoin)
    }

    @Test("refusals name the fix: shares for a vaultd, material for a lone OpenBao, a peer initialised with nothing stored")
    func refusals() {
        guard case .refuse(let shares) = InitDecision.decide(Self.facts(vaultd: true, cluster: false, stored: .shares(["a"]))) else { Issue.record(); return }
        #expect(shares.contains("move the file away"))
        guard case .refuse(let lone) = InitDecision.decide(Self.facts(vaultd: false, cluster: false, stored: .shares(["a"]))) else { Issue.record(); return }
        #expect(lone.contains("cluster = \"NAME\""))
        guard case .refuse(let peer) = InitDecision.decide(Self.facts(vaultd: false, cluster: true, stored: nil, peers: ["unix:///n1.sock"])) else { Issue.record(); return }
        #expect(peer.contains("unix:///n1.sock") && peer.contains("will not make a second key"))
        guard case .refuse = InitDecision.decide(Self.facts(vaultd: true, cluster: true, stored: nil, peers: ["unix:///n1.sock"])) else { Issue.record(); return }
    }
}

@Suite("autonomous init: a vault that lost its storage")
struct StorageLostDecisionTests {
    @Test("a target initialised with the stored material before is never initialised again; a raft node may still rejoin")
    func neverReinitialised() {
        let before = "20261130T140000Z"
        let vaultd = InitDecision.Facts(target: "unix:///a.sock", isVaultd: true, inCluster: false, store: "file:/k", stored: .key("k"), initialisedPeers: [], initialisedBefore: before)
        guard case .storageLost(let message) = InitDecision.decide(vaultd) else { Issue.record(); return }
        #expect(message.contains("unix:///a.sock") && message.contains("file:/k") && message.contains("new, empty vault"))
        var empty = vaultd
        empty.stored = nil   // the material is gone too: still no new init for that vault
        guard case .storageLost = InitDecision.decide(empty) else { Issue.record(); return }
        let raft = InitDecision.Facts(target: "unix:///n1.sock", isVaultd: false, inCluster: true, store: "file:/s", stored: .shares(["a"]), initialisedPeers: [], initialisedBefore: before)
        #expect(InitDecision.decide(raft) == .waitToJoin)
        var lone = raft
        lone.inCluster = false
        guard case .storageLost = InitDecision.decide(lone) else { Issue.record(); return }
    }
}

@Suite("autonomous init: one flight at a time")
struct InitFlightTests {
    actor Counter {
        var runs = 0
        func increment() { runs += 1 }
    }

    @Test("targets that find their vaults uninitialised together run one init; the others wait for it and get nil")
    func singleFlight() async throws {
        let flight = InitFlight()
        let counter = Counter()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let results = try await withThrowingTaskGroup(of: InitFlight.Step?.self) { group in
            group.addTask {
                try await flight.run {
                    await counter.increment()
                    for await _ in gate { break }   // held until every other target has asked
                    return .initialised
                }
            }
            // Wait until the first has started, then send 15 more.
            while await counter.runs == 0 { await Task.yield() }
            for _ in 0..<15 {
                group.addTask { try await flight.run { await counter.increment(); return .initialised } }
            }
            while await flight.waiting < 15 { await Task.yield() }   // an event, not a delay
            open.yield()
            open.finish()
            var results = [InitFlight.Step?]()
            for try await result in group { results.append(result) }
            return results
        }
        #expect(await counter.runs == 1)
        #expect(results.filter { $0 == .initialised }.count == 1)
        #expect(results.filter { $0 == nil }.count == 15)
        // Once it has ended, the next caller runs its own (e.g. the next node of a vaultd cluster).
        #expect(try await flight.run { .joining } == .joining)
    }

    @Test("a failed flight releases the waiters (nil) and the next attempt runs")
    func failedFlight() async throws {
        struct Boom: Error {}
        let flight = InitFlight()
        await #expect(throws: Boom.self) { _ = try await flight.run { throw Boom() } }
        #expect(try await flight.run { .initialised } == .initialised)
    }
}
