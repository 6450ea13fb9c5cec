/// One autonomous init at a time in this agent: the first target to find its vault
/// uninitialised runs the init; the others, while it runs, wait for it instead of starting their
/// own, then look at their vaults again. Across processes (a restarted agent, the init custodian)
/// the same is done by ``InitLock``.
actor InitFlight {
    /// What an init attempt came to.
    enum Step: Sendable, Equatable {
        /// This target's vault was initialised.
        case initialised
        /// The cluster is initialised already: this node joins, then is unsealed.
        case joining
    }

    private var running: Task<Step, Error>?
    /// How many targets wait for the running init now (for tests and nothing else).
    private(set) var waiting = 0

    /// Runs `work`, or — when another target's init is running — waits for that one to end and
    /// returns `nil` (its outcome belongs to the other target; this one re-reads its vault).
    func run(_ work: @escaping @Sendable () async throws -> Step) async throws -> Step? {
        if let running {
            waiting += 1
            _ = try? await running.value
            waiting -= 1
            return nil
        }
        let task = Task { try await work() }
        running = task
        defer { running = nil }
        return try await task.value
    }
}
