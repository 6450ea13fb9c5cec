import SealSources
import SealSourceCore
import Testing
@testable import UnsealAgent

/// The loop's decisions, step by step, with a fixed clock and the backoff's ceiling for its
/// random delay: what a restart, a joining follower, a wrong key or a flaky server lead to.
@Suite("the target loop's state machine")
struct TargetMachineTests {
    static let retry = RetryPolicy(initial: .milliseconds(200), maximum: .seconds(30))
    static let t0 = ContinuousClock.now

    /// Drives the machine through `observations` (each at its offset from t0) and returns every
    /// step's effects and command.
    static func run(_ observations: [(Duration, TargetMachine.Observation)], initEnabled: Bool = true, cluster: String? = nil,
                    state: inout TargetMachine.State) -> [(effects: [TargetMachine.Effect], command: TargetMachine.Command)] {
        let policy = TargetMachine.Policy(name: "unix:///n1.sock", retry: retry, initEnabled: initEnabled, cluster: cluster)
        return observations.map { offset, observation in
            TargetMachine.step(&state, observation, policy: policy, now: t0 + offset, delay: retry.ceiling)
        }
    }

    @Test("a restart: the sealed spell starts when the vault goes away, the socket is probed fast, the unseal is timed from then")
    func restart() {
        var state = TargetMachine.State()
        let steps = Self.run([
            (.zero, .unsealed), (.seconds(1), .watchEnded(quickly: false)),
            (.seconds(2), .unreachable("cannot reach")), (.milliseconds(2100), .sealed), (.milliseconds(2110), .unsealSucceeded(source: "file:/k")),
            (.milliseconds(2120), .unsealed),
        ], state: &state)
        #expect(steps[0].command == .watch(after: .zero))
        #expect(steps[1].command == .checkStatus(after: .zero))
        #expect(steps[2].command == .probeSocket(until: Self.t0 + .seconds(12)))
        #expect(steps[2].effects == [.setSealed(true)])
        #expect(steps[3].command == .unseal)
        #expect(steps[4].effects == [.recordUnseal(source: "file:/k", since: Self.t0 + .seconds(2))])
        #expect(steps[5].effects == [.setSealed(false)])
        #expect(state.sealedSince == nil && state.failures == 0)
    }

    @Test("unreachable past the fast window: reported once as retryable, then exponential backoff up to retry.max")
    func unreachableBackoff() {
        var state = TargetMachine.State()
        let offsets: [Duration] = [.zero, .seconds(5), .seconds(11), .seconds(12), .seconds(13), .seconds(20), .seconds(40), .seconds(60), .seconds(90), .seconds(200)]
        let steps = Self.run(offsets.map { ($0, .unreachable("cannot reach")) }, state: &state)
        #expect(steps[0].command == .probeSocket(until: Self.t0 + .seconds(10)))
        #expect(steps[1].command == .probeSocket(until: Self.t0 + .seconds(10)))
        let delays = steps.dropFirst(2).map { step -> Duration in
            guard case .checkStatus(let after) = step.command else { return .zero }
            return after
        }
        #expect(delays == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .milliseconds(6400), .milliseconds(12800), .milliseconds(25600)])
        #expect(steps.dropFirst(2).allSatisfy { $0.effects.contains(.report(.retryable, "cannot reach")) })
    }

    @Test("a joining follower is asked again every 50 ms — never parked for retry.max — and its unseal that finishes later is ours")
    func joiningFollower() {
        var state = TargetMachine.State()
        var observations: [(Duration, TargetMachine.Observation)] = [(.zero, .uninitialised(isVaultd: false)), (.milliseconds(1), .joining)]
        observations += (0..<20).map { (.milliseconds(50 * $0 + 50), .uninitialised(isVaultd: false)) }
        observations += [(.seconds(2), .sealed), (.milliseconds(2010), .unsealPending(source: "file:/s")), (.milliseconds(2060), .sealed),
                         (.milliseconds(2070), .unsealPending(source: "file:/s")), (.milliseconds(2120), .unsealed)]
        let steps = Self.run(observations, cluster: "raft", state: &state)
        #expect(steps[0].command == .initialise(isVaultd: false))
        #expect(steps[1].command == .checkStatus(after: .milliseconds(50)))
        #expect(steps[1].effects.contains { if case .progress = $0 { true } else { false } })
        // Every later look at an uninitialised node goes through the init flight again, which
        // answers "joining" at once while the cluster's material is stored.
        #expect(steps[2..<22].allSatisfy { $0.command == .initialise(isVaultd: false) })
        #expect(steps[23].command == .checkStatus(after: .milliseconds(50)))
        #expect(steps[25].command == .checkStatus(after: .milliseconds(50)))
        #expect(steps[26].effects == [.recordUnseal(source: "file:/s", since: Self.t0), .setSealed(false)])
        #expect(!steps.contains { step in step.command == .checkStatus(after: Self.retry.maximum) })
    }

    @Test("a vault that never finishes: the fast pace stops after the pending limit")
    func pendingLimit() {
        var state = TargetMachine.State()
        var observations: [(Duration, TargetMachine.Observation)] = []
        for index in 0..<205 { observations += [(.milliseconds(index), .sealed), (.milliseconds(index), .unsealPending(source: "s"))] }
        let steps = Self.run(observations, cluster: "raft", state: &state)
        let afterPending = stride(from: 1, to: steps.count, by: 2).map { steps[$0].command }
        #expect(afterPending.prefix(199).allSatisfy { $0 == .checkStatus(after: .milliseconds(50)) })
        #expect(afterPending[199] == .checkStatus(after: .milliseconds(200)))
        #expect(afterPending[200] == .checkStatus(after: .milliseconds(400)))
    }

    @Test("a wrong key needs a fix: reported as such and retried every retry.max; a retryable source error backs off")
    func failures() {
        var state = TargetMachine.State()
        let steps = Self.run([(.zero, .sealed), (.zero, .failed(.needsFix, "refused the key")), (.seconds(30), .sealed),
                              (.seconds(30), .failed(.retryable, "KMS throttled")), (.seconds(31), .sealed), (.seconds(31), .failed(.notFound, "no file"))],
                             state: &state)
        #expect(steps[1].command == .checkStatus(after: .seconds(30)))
        #expect(steps[1].effects == [.report(.needsFix, "refused the key")])
        #expect(steps[3].command == .checkStatus(after: .milliseconds(400)))   // the second failure
        #expect(steps[3].effects == [.report(.retryable, "KMS throttled")])
        #expect(steps[5].command == .checkStatus(after: .seconds(30)))
    }

    @Test("storage lost is its own class (for the metric), paced like a needs-a-fix error")
    func storageLost() {
        var state = TargetMachine.State()
        let steps = Self.run([(.zero, .uninitialised(isVaultd: true)), (.zero, .failed(.storageLost, "lost"))], state: &state)
        #expect(steps[1].effects == [.report(.storageLost, "lost")])
        #expect(steps[1].command == .checkStatus(after: .seconds(30)))
    }

    @Test("init off: a lone vault waits for an operator (needs a fix, every second); a cluster node waits to join at 50 ms")
    func initOff() {
        var lone = TargetMachine.State()
        let alone = Self.run([(.zero, .uninitialised(isVaultd: true))], initEnabled: false, state: &lone)
        #expect(alone[0].command == .checkStatus(after: .seconds(1)))
        #expect(alone[0].effects.contains { if case .report(.needsFix, _) = $0 { true } else { false } })
        var node = TargetMachine.State()
        let member = Self.run([(.zero, .uninitialised(isVaultd: false))], initEnabled: false, cluster: "raft", state: &node)
        #expect(member[0].command == .checkStatus(after: .milliseconds(50)))
        #expect(!member[0].effects.contains { if case .report = $0 { true } else { false } })
    }

    @Test("a server that drops idle connections: re-checks are paced 1, 2, … 5 s apart, never a spin")
    func quickWatches() {
        var state = TargetMachine.State()
        var observations: [(Duration, TargetMachine.Observation)] = []
        for _ in 0..<7 { observations += [(.zero, .unsealed), (.zero, .watchEnded(quickly: true))] }
        let steps = Self.run(observations, state: &state)
        let watches = stride(from: 0, to: steps.count, by: 2).map { steps[$0].command }
        #expect(watches == [.watch(after: .zero), .watch(after: .seconds(1)), .watch(after: .seconds(2)), .watch(after: .seconds(3)),
                            .watch(after: .seconds(4)), .watch(after: .seconds(5)), .watch(after: .seconds(5))])
    }

    @Test("unsealed by someone else while sealed: no unseal is recorded as the agent's")
    func unsealedElsewhere() {
        var state = TargetMachine.State()
        let steps = Self.run([(.zero, .sealed), (.zero, .failed(.retryable, "KMS down")), (.seconds(1), .unsealed)], state: &state)
        #expect(steps[2].effects == [.unsealedElsewhere, .setSealed(false)])
    }
}
