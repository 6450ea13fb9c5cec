import NIOCore
import NIOHTTP1

/// How long a connection may take at each stage; a connection that overstays is closed.
/// Vault's listener settings: `http_read_header_timeout`, `http_read_timeout`,
/// `http_idle_timeout`.
public struct ConnectionTimeouts: Sendable, Equatable {
    /// From the connection's start to a complete request head (slowloris).
    public var readHeader: Duration
    /// From the request head to the end of its body (an unfinished 2 MiB body).
    public var read: Duration
    /// Between a response and the next request on a kept-alive connection.
    public var idle: Duration

    public static let vaultDefaults = ConnectionTimeouts(readHeader: .seconds(10), read: .seconds(30), idle: .seconds(300))

    public init(readHeader: Duration, read: Duration, idle: Duration) {
        self.readHeader = readHeader
        self.read = read
        self.idle = idle
    }
}

/// Closes a connection that does not progress: no complete head within `readHeader` of its
/// start, no complete body within `read` of its head, no new request within `idle` of the last
/// response. While a request is being answered no timer runs (the responder's time is its own).
///
/// Every request moves the deadline twice, so moving it must be cheap: it is a field. The one
/// timer stays scheduled for the earliest deadline it may need to check; when it fires it
/// closes the connection if the current deadline has passed, and otherwise schedules itself for
/// that deadline. A timer is rescheduled early only when a deadline moves before it (a head
/// after an idle wait), not once per request (two timers per request were 6 % of a read).
final class RequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeouts: ConnectionTimeouts
    /// When the connection is closed unless it progresses; nil while a request is answered.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    /// When ``timer`` fires.
    private var timerDeadline: NIODeadline?

    init(_ timeouts: ConnectionTimeouts) { self.timeouts = timeouts }

    private func arm(_ context: ChannelHandlerContext, _ duration: Duration) {
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        let deadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        self.deadline = deadline
        if let timerDeadline, timerDeadline <= deadline { return }   // it fires first and looks again
        schedule(context, at: deadline)
    }

    private func schedule(_ context: ChannelHandlerContext, at when: NIODeadline) {
        timer?.cancel()
        timerDeadline = when
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: when) {
            let (handler, context) = loopBound.value
            handler.fired(context)
        }
    }

    private func fired(_ context: ChannelHandlerContext) {
        timer = nil
        timerDeadline = nil
        guard let deadline else { return }   // a request is being answered: no timer
        if deadline <= .now() {
            context.close(promise: nil)
        } else {
            schedule(context, at: deadline)
        }
    }

    private func disarm() {
        deadline = nil
    }

    private func stop() {
        deadline = nil
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, timeouts.readHeader) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, timeouts.readHeader)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, timeouts.read)
        case .body: break
        case .end: disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context, timeouts.idle) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }
}
