import Logging
import ServiceLifecycle
import UnixSignals
import VaultCore

/// SIGHUP, as Vault and OpenBao take it: the configuration file's `audit` blocks are read again
/// (devices added or removed) and every audit file is reopened, so logrotate can move a log
/// away and signal (`postrotate … kill -HUP`). Other settings take effect at a restart.
struct HangUpService: Service {
    /// Made before the listeners bind, so a SIGHUP that arrives early is taken, not fatal.
    let signals: UnixSignalsSequence
    let configurationPath: String?
    let environment: [String: String]
    let core: VaultCore
    let audit: AuditGate
    let leadership: Leadership
    let logger: Logger

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            await reload()
        }
    }

    func reload() async {
        if let configurationPath {
            do {
                let configuration = try ServerConfiguration.load(path: configurationPath, environment: environment)
                await core.declareAuditDevices(configuration.auditDevices)
            } catch {
                logger.error("SIGHUP: the configuration file cannot be read; the audit devices stay as they were", metadata: ["file": "\(configurationPath)", "error": "\(error)"])
            }
        }
        audit.reopen()
        // Declared devices are created now rather than at the next request, so a path that
        // cannot be written is in the log at once.
        if !leadership.isEnabled || leadership.isActive {
            do { try await audit.refresh() } catch {
                logger.error("SIGHUP: the audit devices cannot be read", metadata: ["error": "\(error)"])
            }
        }
        logger.info("SIGHUP: audit blocks read again and audit files reopened; other settings take effect at a restart")
    }
}
