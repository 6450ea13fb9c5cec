import LeanFoundation
import Logging
import DurableFile
import SealSources
import VaultClient

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

    public init(client: VaultClient, store: any StoringSealSource, rootTokenPath: String?, retry: RetryPolicy, logger: Logger, target: String) {
        self.client = client
        self.store = store
        self.rootTokenPath = rootTokenPath
        self.retry = retry
        self.logger = logger
        self.target = target
    }

    /// Sends `sys/init` with `body` (JSON), stores the shares, then the root token; returns how
    /// many shares were stored.
    public func initialize(_ body: Data) async throws -> Int {
        let request = AnyJSON.object(body) ?? [:]
        let result = try await client.initialize(request)
        guard let shares = result["keys_base64"] as? [String], !shares.isEmpty else {
            throw SealSourceError(.needsFix, "\(target) answered init without keys_base64 (is it using an auto-unseal seal?)")
        }
        // The shares exist only in this process now: store them before anything else, and
        // never give up.
        await Self.untilStored(retry: retry) {
            do throws(SealSourceError) { try await store.store(.shares(shares)) } catch {
                logger.error("cannot store the new unseal shares; retrying (the vault is initialised: do not stop the agent)", metadata: ["target": "\(target)", "error": "\(error.message)"])
                throw error
            }
        }
        await Self.keepRootToken(result["root_token"] as? String, at: rootTokenPath, retry: retry, logger: logger)
        return shares.count
    }

    /// Stores the root token where `init { root_token = "file:…" }` says, retrying until it is.
    static func keepRootToken(_ token: String?, at path: String?, retry: RetryPolicy, logger: Logger) async {
        guard let path, let token else { return }
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
/// agent's own configuration arguments. The request body goes in on standard input; the
/// custodian answers one JSON line, `{"shares": N}` or `{"error": "…", "class": "…"}`.
public struct InitCustodian: Sendable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    /// Runs the custodian for `target` and waits for its answer.
    func initialize(target: String, body: Data) async throws -> Int {
        // No deadline: the custodian holds the only copy of the shares until it has stored
        // them, and must never be killed for taking long (OpenBao's init alone may take minutes).
        let outcome = try await ProcessRunner.run(executable, arguments + ["--target", target], input: Array(body), timeout: nil)
        let status = outcome.status
        let answer = AnyJSON.object(outcome.output)
        if status == 0, let shares = answer?["shares"] as? Int { return shares }
        let message = answer?["error"] as? String ?? "the init custodian exited with status \(status)"
        let errorClass = (answer?["class"] as? String).flatMap(SealSourceError.Class.init(rawValue:)) ?? .retryable
        throw SealSourceError(errorClass, message)
    }
}
