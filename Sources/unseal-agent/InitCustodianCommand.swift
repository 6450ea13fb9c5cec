import ArgumentParser
import SealSourceCore
import LeanFoundation
import HTTPTransport
import Logging
import SealSources
import UnsealAgent
import VaultClient
import VaultWire
import VaultCLI

/// `unseal-agent init-custodian` (internal): OpenBao/Vault's `sys/init` and the storing of the
/// shares it returns, in a process that outlives a killed agent (see ``ShareCustody``). The
/// agent starts it with its own configuration arguments and the request on standard input.
struct InitCustodianCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-custodian",
        abstract: "Internal: initialise one OpenBao/Vault target and store its shares (started by 'run').",
        shouldDisplay: false
    )

    @Option(name: .long, help: "The configuration file (HCL or JSON).") var config: String?
    @Option(name: .long, help: "The target's address, as in the configuration.") var target: String

    func run() async throws {
        // Until the shares are stored nothing may stop this process but SIGKILL: not the
        // agent's stop, a terminal's ^C, a closed terminal, or the agent's end of the pipe.
        for signalNumber in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { signal(signalNumber, SIG_IGN) }
        let configuration = try await loadConfiguration(config)
        LineLogHandler.bootstrap(level: configuration.logLevel, json: configuration.logFormat == "json")
        let logger = Logger(label: "unseal-agent.init-custodian")
        let input = (try? StandardStreams.readAll(0)) ?? []
        do {
            guard let request = WireJSON.decode(InitRequest.self, from: input) else {
                throw SealSourceError(.needsFix, "the init custodian was given no sys/init request on standard input")
            }
            guard let entry = configuration.targets.first(where: { $0.address == target }) else {
                throw SealSourceError(.needsFix, "no vault \(target) in the configuration")
            }
            // The shares OpenBao hands back exist nowhere else: into every store that answers.
            guard let store = ReplicatedSealStore.forInit(configuration.sources, issued: true) else {
                throw SealSourceError(.needsFix, "autonomous init needs a seal source that can store (seal \"file\")")
            }
            let client = VaultClient(address: try VaultAddress(entry.address), timeout: .seconds(10), caBundlePath: entry.caCert)
            let peers = try configuration.peers(of: entry).map { VaultClient(address: try VaultAddress($0.address), timeout: .seconds(5), caBundlePath: $0.caCert) }
            let custody = ShareCustody(client: client, store: store, rootTokenPath: configuration.initSettings.rootTokenPath,
                                       retry: configuration.retry, logger: logger, target: entry.address, peers: peers)
            switch try await custody.initialize(request) {
            case .initialised(let shares): answer(InitCustodianAnswer(shares: shares))
            case .joining: answer(InitCustodianAnswer(joining: true))
            }
        } catch let error as SealSourceError {
            answer(InitCustodianAnswer(error: error.message, errorClass: error.errorClass.rawValue))
            throw ExitCode(1)
        } catch {
            answer(InitCustodianAnswer(error: "initialising \(target) failed: \(error)", errorClass: SealSourceError.Class.retryable.rawValue))
            throw ExitCode(1)
        }
    }

    private func answer(_ answer: InitCustodianAnswer) {
        guard let data = try? WireJSON.encode(answer) else { return }
        // The agent may be gone (kill -9) and its end of the pipe with it: SIGPIPE is ignored,
        // the shares are stored by now, and the failed write is let go.
        StandardStreams.write(data + Array("\n".utf8), to: 1)
    }
}
