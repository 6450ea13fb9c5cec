import Foundation
import GRDB
import Synchronization

/// Commits writes in groups: the writes that arrive while one transaction commits go into the
/// next one together, each in a savepoint of its own, and every one of them is acknowledged
/// once that transaction is on disk (`synchronous = FULL`: the log is fsynced at commit).
///
/// Each write stays atomic and durable before it is acknowledged, and a write that fails (an
/// insert-new conflict) is rolled back to its savepoint alone. But sixteen concurrent writers
/// share one fsync instead of queueing for sixteen, and the log gets one copy of a page that
/// several of them changed (docs/BENCHMARKS.md: the write p99).
///
/// When SQLite abandons the whole transaction (an I/O error, a full disk), nothing in the
/// group stands and every write in it fails with that error.
final class GroupCommit: Sendable {
    typealias Work = @Sendable (Database) throws -> Void

    private struct Waiting: Sendable {
        let work: Work
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State: ~Copyable {
        var pending: [Waiting] = []
        var committing = false
    }

    /// Writes per transaction at most: a bound on what one failure of the whole takes along.
    static let maximumGroup = 64

    private let pool: DatabasePool
    private let state = Mutex(State())

    init(pool: DatabasePool) { self.pool = pool }

    /// Runs `work` in the next transaction; returns once it is committed, or throws its error.
    func submit(_ work: @escaping Work) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start = state.withLock { state in
                state.pending.append(Waiting(work: work, continuation: continuation))
                defer { state.committing = true }
                return !state.committing
            }
            if start { Task { await self.commitUntilDone() } }
        }
    }

    private func commitUntilDone() async {
        while true {
            let group = state.withLock { state -> [Waiting] in
                guard !state.pending.isEmpty else {
                    state.committing = false
                    return []
                }
                let count = min(state.pending.count, Self.maximumGroup)
                defer { state.pending.removeFirst(count) }
                return Array(state.pending.prefix(count))
            }
            guard !group.isEmpty else { return }
            let outcomes: [Result<Void, any Error>]
            do {
                outcomes = try await pool.write { db in
                    var outcomes = [Result<Void, any Error>]()
                    for waiting in group {
                        do {
                            try db.inSavepoint {
                                try waiting.work(db)
                                return .commit
                            }
                            outcomes.append(.success(()))
                        } catch {
                            // A failure SQLite answered by rolling everything back leaves no
                            // transaction: the group fails as one.
                            guard db.isInsideTransaction else { throw error }
                            outcomes.append(.failure(error))
                        }
                    }
                    return outcomes
                }
            } catch {
                outcomes = Array(repeating: .failure(error), count: group.count)
            }
            for (waiting, outcome) in zip(group, outcomes) { waiting.continuation.resume(with: outcome) }
        }
    }
}

/// Copies the write-ahead log into the database file beside the writers, rather than in the
/// commit that happens to cross SQLite's threshold: that commit used to wait for the copy and
/// its fsync, and those waits were the write path's p99 (docs/BENCHMARKS.md).
///
/// A commit asks for a checkpoint; an ask when none is scheduled schedules one 5 ms later
/// on a queue of its own, on its own connection, and later asks join it. The checkpoint is
/// PASSIVE: it copies what no reader still needs and never waits for or blocks a writer. Once
/// the log is all copied the next commit starts it over. Under a steady stream of commits that
/// moment rarely comes, and the log grows until the commit that crosses `wal_autocheckpoint`
/// (80 MB) checkpoints itself, with only the last few pages left to copy. Blocking writers to
/// start the log over sooner (a RESTART checkpoint once it passed 8 MB, or the threshold at
/// 16 MB) brought the write p99 back to 14–20 ms (docs/BENCHMARKS.md). Idle, nothing runs; at
/// stop the log is emptied and truncated. A failure is left to the next checkpoint; reads and
/// writes report a damaged file themselves.
final class Checkpointer: Sendable {
    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "vaultd.sqlite.checkpoint")
    private let scheduled = Mutex(false)
    static let delay = DispatchTimeInterval.milliseconds(5)

    init(path: String) throws {
        var configuration = Configuration()
        configuration.label = "vaultd.checkpoint"
        configuration.busyMode = .timeout(10)
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    func noteCommit() {
        let first = scheduled.withLock { scheduled in
            defer { scheduled = true }
            return !scheduled
        }
        guard first else { return }
        queue.asyncAfter(deadline: .now() + Self.delay) { [self] in
            scheduled.withLock { $0 = false }
            _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        }
    }
}
