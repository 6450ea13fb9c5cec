import CVaultSystem
import Logging
import ServiceLifecycle

/// The first service of a `ServiceGroup` to hear of graceful shutdown (put it last: the group
/// shuts services down in reverse order): says so in the log and tells systemd `STOPPING=1`
/// while the others finish.
public struct StopNotice: Service {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func run() async throws {
        try await gracefulShutdown()
        logger.info("shutting down")
        _ = csystem_sd_notify("STOPPING=1")
    }
}
