import PostgresNIO
import Synchronization
import VaultCore

/// How `PostgresStorage` runs a query: within a deadline, with postgres-nio's errors turned
/// into the vault's, and the pool told whether the server answered.
extension PostgresStorage {
    /// `work`'s result, or ``QueryDeadline`` once `deadline` has passed — without waiting for
    /// `work` to notice: a task group would wait for its child after cancelling it, and a query
    /// queued in postgres-nio's pool does not always end on cancellation (under load a test run
    /// hung there for minutes). The work is cancelled and left to finish on its own.
    static func first<T: Sendable>(of work: @escaping @Sendable () async throws -> T, orFailAfter deadline: Duration) async throws -> T {
        let race = Race()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.timer.withLock { $0 = Task {
                try? await Task.sleep(for: deadline)
                guard !Task.isCancelled, race.claim() else { return }
                race.worker.withLock { $0 }?.cancel()
                continuation.resume(throwing: QueryDeadline())
            } }
            race.worker.withLock { $0 = Task {
                let result: Result<T, any Error>
                do { result = .success(try await work()) } catch { result = .failure(error) }
                guard race.claim() else { return }
                race.timer.withLock { $0 }?.cancel()   // no timer left behind per query
                continuation.resume(with: result)
            } }
        }
    }

    /// Which of a query and its deadline ended first; the loser is cancelled.
    private final class Race: Sendable {
        private let done = Mutex(false)
        let worker = Mutex<Task<Void, Never>?>(nil)
        let timer = Mutex<Task<Void, Never>?>(nil)
        /// True for the first caller only.
        func claim() -> Bool { done.withLock { done in defer { done = true }; return !done } }
    }

    /// How long one query or transaction may take before it is given up.
    static let queryDeadline = Duration.seconds(5)
    struct QueryDeadline: Error {}

    /// The lease named in a write was not valid inside its transaction.
    struct LeaseLost: Error { let term: LeadershipTerm }

    /// Runs `work`, turning postgres-nio's errors into the vault's: the database unreachable or
    /// failing is a 503 naming it (without the password); a conflict and a lost lease stay what
    /// they are.
    ///
    /// Bounded by `deadline` (default ``queryDeadline``): postgres-nio keeps a query waiting for
    /// as long as its pool cannot connect (67 s was seen with the server stopped), and a vault
    /// request must fail, and the pool be replaced (``ConnectionPool``), long before that.
    func run<T: Sendable>(deadline: Duration? = nil, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            let result = try await Self.first(of: work, orFailAfter: deadline ?? Self.queryDeadline)
            pool.answered()
            return result
        } catch let error as PostgresTransactionError {
            throw translate(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch is QueryDeadline {
            // Why: a connection of our own says (a certificate, a password, a refused port).
            if let reason = await pool.probe() {
                pool.unreachable()
                throw VaultError(.storageUnavailable, "PostgreSQL (\(settings.redactedURL)) cannot be reached: \(Self.describe(reason))\(Self.hint(reason))")
            }
            throw translate(QueryDeadline())
        } catch {
            throw translate(error)
        }
    }

    private func translate(_ error: any Error) -> any Error {
        if Self.isUnreachable(error) { pool.unreachable() } else { pool.answered() }
        switch error {
        case is QueryDeadline:
            return VaultError(.storageUnavailable, "PostgreSQL (\(settings.redactedURL)) did not answer within \(Self.queryDeadline)")
        case is StorageConflict, is VaultError, is PostgresSettingsError:
            return error
        case let lost as LeaseLost:
            heldTerm.withLock { if $0 == lost.term { $0 = nil } }
            return VaultError(.notActive, "this node lost leadership (\(lost.term)) before the write: nothing was written; retry, and it goes to the active node")
        case let error as PSQLError where error.serverInfo?[.sqlState] == PostgresError.Code.uniqueViolation.raw:
            return StorageConflict(key: "")
        default:
            return VaultError(.storageUnavailable, "PostgreSQL (\(settings.redactedURL)) failed: \(Self.describe(error))")
        }
    }

    /// No answer from the server at all: a deadline passed, or postgres-nio failed without a
    /// server message (connection refused, reset, TLS). What the pool is replaced for.
    private static func isUnreachable(_ error: any Error) -> Bool {
        if error is QueryDeadline { return true }
        if let error = error as? PSQLError { return error.serverInfo == nil }
        return false
    }

    /// What went wrong, without the query's bound values (keys are paths, values ciphertext —
    /// still nothing to put in a log) and without the connection's password.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// The setting to look at, for the failures that have one.
    static func hint(_ error: any Error) -> String {
        let text = (describe(error) + " \(error)").lowercased()
        if text.contains("no encryption") { return " — the server accepts this client over TLS only: set sslmode=verify-full (with sslrootcert) in connection_url" }
        if text.contains("pg_hba.conf") { return " — the server's pg_hba.conf does not admit this user, database or address" }
        if text.contains("certificate") || text.contains("ssl") || text.contains("tls") || text.contains("handshake") {
            return " — check sslmode and sslrootcert in connection_url"
        }
        if text.contains("password") || text.contains("authentication") { return " — check the user and password in connection_url" }
        if text.contains("connection refused") || text.contains("connect") { return " — is PostgreSQL running at the host and port of connection_url?" }
        return ""
    }
}
