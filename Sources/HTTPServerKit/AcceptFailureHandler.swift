import Logging
import NIOCore

/// Keeps a listener that cannot accept (EMFILE, ENFILE, ENOBUFS, ENOMEM) from spinning, and says
/// so in the log: once a minute per listener and error, with a count.
///
/// Why: NIO's `ServerBootstrap` adds an `AcceptBackoffHandler`, but it only delays *new* read
/// requests. When `accept` fails, the read already requested stays pending, the listening socket
/// stays registered with the level-triggered epoll, and the event loop calls `accept` again at
/// once: a test that made `accept` fail with EMFILE counted 505,619 calls in 3 s, one core busy,
/// and nothing in the log. So on such an error this handler stops reading (turning `autoRead`
/// off takes the socket out of epoll) and turns it back on a second later; clients wait in the
/// kernel's backlog meanwhile and are served once accepting works again.
final class AcceptFailureHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    static let pause: TimeAmount = .seconds(1)

    private let listener: String
    private let logger: Logger
    private let warnings = ThrottledWarnings()
    private var resume: Scheduled<Void>?

    init(listener: String, logger: Logger) {
        self.listener = listener
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError {
            if let count = warnings.shouldLog("\(error.errnoCode)") {
                logger.error("cannot accept connections; trying again every second", metadata: [
                    "listener": "\(listener)", "reason": "\(error.description)", "failures_in_last_minute": "\(count)",
                ])
            }
            pauseAccepting(context: context)
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
        context.fireChannelInactive()
    }

    private func pauseAccepting(context: ChannelHandlerContext) {
        guard resume == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) { [self] in
            resume = nil
            guard context.channel.isActive else { return }
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }
}
