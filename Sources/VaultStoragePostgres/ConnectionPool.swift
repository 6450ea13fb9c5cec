import Logging
import PostgresNIO
import Synchronization

/// postgres-nio's client, replaced by a fresh one when PostgreSQL has been unreachable for a
/// while. Its pool retries failed connections with a backoff that grows to a minute (100 ms ×
/// 1.25ⁿ): after an outage of 30 s, vaultd would wait up to another 26 s before it tried again —
/// a cluster that stays down after its database came back (Vault issue 17643). A new client
/// starts from the first step of that backoff.
final class ConnectionPool: Sendable {
    private struct Current {
        let client: PostgresClient
        let task: Task<Void, Never>
        let created: ContinuousClock.Instant
    }

    private let configuration: PostgresClient.Configuration
    private let probeConfiguration: PostgresConnection.Configuration?
    private let logger: Logger
    private let current: Mutex<Current>
    /// Clients replaced, still finishing: awaited at shutdown.
    private let retired = Mutex<[Task<Void, Never>]>([])
    /// When the database first failed to answer in the present outage (nil: it answers).
    private let outageSince = Mutex<ContinuousClock.Instant?>(nil)
    /// How long an outage lasts before the client is replaced (and at most how often).
    static let replaceAfter = Duration.seconds(2)

    init(configuration: PostgresClient.Configuration, probe: PostgresConnection.Configuration?, logger: Logger) {
        self.configuration = configuration
        self.probeConfiguration = probe
        self.logger = logger
        current = Mutex(Self.start(configuration))
    }

    private static func start(_ configuration: PostgresClient.Configuration) -> Current {
        let client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "vaultd.postgres.pool", factory: { _ in SwiftLogNoOpLogHandler() }))
        return Current(client: client, task: Task { await client.run() }, created: .now)
    }

    var client: PostgresClient { current.withLock { $0.client } }

    /// The database answered (rows or an error of its own): no outage.
    func answered() {
        outageSince.withLock { $0 = nil }
    }

    /// The database could not be reached. Past ``replaceAfter`` of outage, a new client.
    func unreachable() {
        let now = ContinuousClock.now
        let since = outageSince.withLock { since in
            if since == nil { since = now }
            return since!
        }
        guard now - since >= Self.replaceAfter else { return }
        let replaced: Task<Void, Never>? = current.withLock { current in
            guard now - current.created >= Self.replaceAfter else { return nil }
            let old = current.task
            current = Self.start(configuration)
            return old
        }
        if let replaced {
            replaced.cancel()
            retired.withLock { $0.append(replaced) }
            logger.info("PostgreSQL unreachable for \(now - since): new connection pool")
        }
    }

    /// Why a connection cannot be made now, asked of the server with one connection of its own:
    /// the pool keeps its connection errors to itself and lets queries wait, so a wrong CA or
    /// password would otherwise surface only as "no answer". Nil when a connection succeeds.
    func probe() async -> (any Error)? {
        guard let probeConfiguration else { return nil }
        do {
            let connection = try await PostgresConnection.connect(configuration: probeConfiguration, id: 0, logger: Logger(label: "vaultd.postgres.probe", factory: { _ in SwiftLogNoOpLogHandler() }))
            try? await connection.close()
            return nil
        } catch {
            return error
        }
    }

    /// Closes every client and waits for their work to end — at most `limit`: a connection stuck
    /// in a handshake with a server that stopped answering must not keep vaultd from exiting.
    func shutdown(limit: Duration = .seconds(3)) async {
        let tasks = [current.withLock { $0.task }] + retired.withLock { $0 }
        for task in tasks { task.cancel() }
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { for task in tasks { await task.value }; return true }
            group.addTask { try? await Task.sleep(for: limit); return false }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        if !finished { logger.warning("PostgreSQL connections did not close within \(limit); exiting without them") }
    }
}
