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
final class RequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeouts: ConnectionTimeouts
    private var timer: Scheduled<Void>?

    init(_ timeouts: ConnectionTimeouts) { self.timeouts = timeouts }

    private func arm(_ context: ChannelHandlerContext, _ duration: Duration) {
        timer?.cancel()
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            loopBound.value.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
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
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }
}
