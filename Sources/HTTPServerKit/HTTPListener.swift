import CVaultSystem
import LeanFoundation
import Logging
import ServiceLifecycle
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Who may connect to a Unix socket: the allowed uids and gids (empty lists allow any peer
/// that the file mode lets in). Checked against the kernel's `SO_PEERCRED` before a byte of
/// the request is read.
public struct PeerPolicy: Sendable {
    public var allowedUIDs: [UInt32]
    public var allowedGIDs: [UInt32]

    public init(allowedUIDs: [UInt32] = [], allowedGIDs: [UInt32] = []) {
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
    }

    public func allows(uid: UInt32, gid: UInt32) -> Bool {
        if allowedUIDs.isEmpty && allowedGIDs.isEmpty { return true }
        return allowedUIDs.contains(uid) || allowedGIDs.contains(gid)
    }
}

/// A refused Unix-socket peer.
struct PeerRejected: Error {
    let uid: UInt32
    let gid: UInt32
}

/// One accepted connection: its HTTP stream and its peer.
struct HTTPConnection: Sendable {
    let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let peer: Peer

    /// Ends a connection that will never be served. A `NIOAsyncChannel` released without
    /// `executeThenClose` traps ("Deinited NIOAsyncWriter without calling finish()"), so a
    /// connection is never simply dropped: it is run through `executeThenClose` with nothing to
    /// do, which finishes its writer and closes it. (The synchronous `outbound.finish()` is
    /// deprecated for exactly this reason.)
    func abandon() {
        let channel = self.channel
        Task { try? await channel.executeThenClose { _, _ in } }
    }
}

/// What the listening channel hands to the accept loop: only the name of an accepted
/// connection, never the connection itself.
///
/// SwiftNIO's async server channel drops elements it has buffered when the listening socket
/// closes (apple/swift-nio#2813), and an accepted `NIOAsyncChannel` that is dropped crashes the
/// process. vaultd closes its listeners on SIGTERM while clients are still connecting, so the
/// connection stays with the ``ConnectionTracker`` until the accept loop claims it, and whatever
/// is still unclaimed at shutdown is abandoned there, properly.
struct ConnectionTicket: Sendable {
    let id: ObjectIdentifier
}

/// Every connection from its acceptance to its close: unclaimed ones (accepted, not yet served),
/// idle ones and busy ones, so a graceful shutdown can end the first two kinds at once and let
/// the busy ones finish their request.
final class ConnectionTracker: Sendable {
    private enum Stage {
        case unclaimed(HTTPConnection)
        case serving(busy: Bool)
    }
    private struct State {
        var shuttingDown = false
        var connections: [ObjectIdentifier: (channel: any Channel, stage: Stage)] = [:]
    }
    private let state = Mutex(State())

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Keeps a connection just accepted (on its event loop) until the accept loop claims it.
    /// After shutdown began it is abandoned at once and the channel initializer fails.
    func adopt(_ connection: HTTPConnection) throws -> ConnectionTicket {
        let channel = connection.channel.channel
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { state -> Bool in
            guard !state.shuttingDown else { return false }
            state.connections[id] = (channel, .unclaimed(connection))
            return true
        }
        guard accepted else {
            connection.abandon()
            throw ListenerError("the listener is shutting down")
        }
        return ConnectionTicket(id: id)
    }

    /// Hands an adopted connection to the accept loop, or nil when shutdown abandoned it.
    func claim(_ ticket: ConnectionTicket) -> HTTPConnection? {
        state.withLock { state -> HTTPConnection? in
            guard let entry = state.connections[ticket.id], case .unclaimed(let connection) = entry.stage else {
                return nil
            }
            state.connections[ticket.id] = (entry.channel, .serving(busy: false))
            return connection
        }
    }

    func closed(_ channel: any Channel) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Marks a request in progress (or done), so shutdown leaves it to finish.
    func setBusy(_ channel: any Channel, _ busy: Bool) {
        state.withLock { state in
            let id = ObjectIdentifier(channel)
            guard let entry = state.connections[id], case .serving = entry.stage else { return }
            state.connections[id] = (entry.channel, .serving(busy: busy))
        }
    }

    /// Stops keep-alive, abandons unclaimed connections and closes idle ones. Safe to call twice.
    func beginShutdown() {
        let (unclaimed, idle) = state.withLock { state -> ([HTTPConnection], [any Channel]) in
            state.shuttingDown = true
            var unclaimed: [HTTPConnection] = []
            var idle: [any Channel] = []
            for (id, entry) in state.connections {
                switch entry.stage {
                case .unclaimed(let connection):
                    unclaimed.append(connection)
                    state.connections[id] = nil
                case .serving(busy: false):
                    idle.append(entry.channel)
                case .serving(busy: true):
                    break
                }
            }
            return (unclaimed, idle)
        }
        for connection in unclaimed { connection.abandon() }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// An HTTP/1.1 listener on a Unix socket or a TCP port, serving an ``HTTPResponder``.
public final class HTTPListener: Service, Sendable {
    public enum Address: Sendable, CustomStringConvertible {
        case unix(path: String, mode: mode_t, policy: PeerPolicy)
        case tcp(host: String, port: Int, tls: NIOSSLContext?)

        public var description: String {
            switch self {
            case .unix(let path, _, _): "unix:\(path)"
            case .tcp(let host, let port, let tls): "\(tls == nil ? "http" : "https")://\(host):\(port)"
            }
        }
    }

    /// How many connections one listener may hold, and for how long each stage may take.
    public struct Limits: Sendable {
        /// This listener's cap (`max_connections`); nil: only the process budget.
        public var maxConnections: Int?
        public var timeouts: ConnectionTimeouts
        public var budget: ConnectionBudget
        /// Whether a TCP listener takes seal operations (init, unseal); the Unix socket always does.
        public var allowSealOperations: Bool

        public init(maxConnections: Int? = nil, timeouts: ConnectionTimeouts = .vaultDefaults, budget: ConnectionBudget = .shared, allowSealOperations: Bool = false) {
            self.maxConnections = maxConnections
            self.timeouts = timeouts
            self.budget = budget
            self.allowSealOperations = allowSealOperations
        }
    }

    public let address: Address
    /// The TCP port actually bound (useful with port 0), or nil for Unix sockets.
    public let boundPort: Int?
    private let server: NIOAsyncChannel<ConnectionTicket, Never>
    private let responder: any HTTPResponder
    private let maxRequestSize: Int
    private let logger: Logger
    private let tracker: ConnectionTracker
    private let sealOperationsAllowed: Bool

    private init(
        address: Address, server: NIOAsyncChannel<ConnectionTicket, Never>, tracker: ConnectionTracker,
        responder: any HTTPResponder, maxRequestSize: Int, sealOperationsAllowed: Bool, logger: Logger
    ) {
        self.sealOperationsAllowed = sealOperationsAllowed
        self.address = address
        self.server = server
        self.tracker = tracker
        self.responder = responder
        self.maxRequestSize = maxRequestSize
        self.logger = logger
        self.boundPort = server.channel.localAddress?.port
    }

    /// Binds the address. For Unix sockets an existing socket file is replaced and the mode set.
    public static func bind(
        _ address: Address, responder: any HTTPResponder, maxRequestSize: Int, limits: Limits = Limits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) async throws -> HTTPListener {
        // Accept errors (EMFILE, ENFILE) pause accepting for a second rather than spin
        // (AcceptFailureHandler), and are logged; the budget keeps them from happening at all.
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptFailureHandler(listener: "\(address)", logger: logger))
                }
            }
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        let tracker = ConnectionTracker()
        let admission = Admission(limits: limits, listener: "\(address)", logger: logger)
        let server: NIOAsyncChannel<ConnectionTicket, Never>
        switch address {
        case .unix(let path, let mode, let policy):
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                do { try admission.admit(channel, unix: true) } catch { return channel.eventLoop.makeFailedFuture(error) }
                return acceptUnix(channel, policy: policy, timeouts: limits.timeouts, logger: logger).flatMapThrowing { try tracker.adopt($0) }
            }
            guard chmod(path, mode) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await server.channel.close()
                throw ListenerError("cannot set mode \(String(mode, radix: 8)) on the socket \(path): \(reason)")
            }
        case .tcp(let host, let port, let tls):
            server = try await bootstrap.bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try admission.admit(channel, unix: false)
                    let peer = Peer.tcp(channel.remoteAddress?.description ?? "unknown")
                    return try tracker.adopt(makeConnection(channel, peer: peer, tls: tls, timeouts: limits.timeouts))
                }
            }
        }
        var sealOperations = limits.allowSealOperations
        if case .unix = address { sealOperations = true }
        return HTTPListener(
            address: address, server: server, tracker: tracker,
            responder: responder, maxRequestSize: maxRequestSize, sealOperationsAllowed: sealOperations, logger: logger
        )
    }

    /// Refused Unix-socket peers, logged once a minute each with a count.
    private static let refusedPeers = ThrottledWarnings()

    private static func acceptUnix(_ channel: any Channel, policy: PeerPolicy, timeouts: ConnectionTimeouts, logger: Logger) -> EventLoopFuture<HTTPConnection> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ListenerError("the socket cannot report its peer"))
        }
        let credentials: EventLoopFuture<csystem_peer_credentials> = provider.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET),
            name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)
        )
        return credentials.flatMapThrowing { credentials in
            guard policy.allows(uid: credentials.uid, gid: credentials.gid) else {
                if let count = refusedPeers.shouldLog("\(credentials.uid):\(credentials.gid)") {
                    logger.warning("refused a unix-socket peer outside allowed_uids/allowed_gids", metadata: [
                        "uid": "\(credentials.uid)", "gid": "\(credentials.gid)", "pid": "\(credentials.pid)",
                        "refused_in_last_minute": "\(count)",
                    ])
                }
                // Close at once: the peer gets no byte, not even an error response.
                channel.close(promise: nil)
                throw PeerRejected(uid: credentials.uid, gid: credentials.gid)
            }
            let peer = Peer.unix(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
            return try makeConnection(channel, peer: peer, tls: nil, timeouts: timeouts)
        }
    }

    private static func makeConnection(_ channel: any Channel, peer: Peer, tls: NIOSSLContext?, timeouts: ConnectionTimeouts) throws -> HTTPConnection {
        if let tls {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
        }
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(RequestTimeoutHandler(timeouts))
        let async = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
        return HTTPConnection(channel: async, peer: peer)
    }

    /// Accepts and serves connections until ``shutdown()`` — or, as a ``Service`` in a
    /// `ServiceGroup`, until graceful shutdown — and returns when every connection is done.
    public func run() async {
        await withGracefulShutdownHandler {
            await serve()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    private func serve() async {
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await ticket in inbound {
                        guard let connection = tracker.claim(ticket) else { continue }
                        if #available(macOS 15, *) {
                            let executor = EventLoopTaskExecutor(connection.channel.channel.eventLoop)
                            group.addTask(executorPreference: executor) { await self.serve(connection) }
                        } else {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } catch {
                logger.debug("listener stopped", metadata: ["address": "\(address)", "error": "\(error)"])
            }
            // However the accept loop ended, nothing accepted may be left unserved.
            tracker.beginShutdown()
        }
    }

    /// Stops accepting, lets requests in progress finish, closes idle connections.
    public func shutdown() {
        tracker.beginShutdown()
        server.channel.close(promise: nil)
    }

    private func serve(_ connection: HTTPConnection) async {
        let channel = connection.channel.channel
        defer { tracker.closed(channel) }
        do {
            // Always through executeThenClose, even when shutdown began meanwhile: it is what
            // finishes the connection's writer (see ``ConnectionTicket``).
            try await connection.channel.executeThenClose { inbound, outbound in
                if tracker.isShuttingDown { return }
                var head: HTTPRequestHead?
                var body = [UInt8]()
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        tracker.setBusy(channel, true)
                        head = requestHead
                        body.removeAll(keepingCapacity: true)
                        if let length = requestHead.headers.first(name: "content-length").flatMap(Int.init), length > maxRequestSize {
                            try await write(Self.tooLarge(maxRequestSize), to: outbound, version: requestHead.version, keepAlive: false)
                            return
                        }
                    case .body(let buffer):
                        guard let requestHead = head else { continue }
                        if body.count + buffer.readableBytes > maxRequestSize {
                            try await write(Self.tooLarge(maxRequestSize), to: outbound, version: requestHead.version, keepAlive: false)
                            return
                        }
                        body.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        guard let requestHead = head else { continue }
                        let request = HTTPRequest(method: requestHead.method, uri: requestHead.uri, headers: requestHead.headers, body: body,
                                                  peer: connection.peer, sealOperationsAllowed: sealOperationsAllowed)
                        let response = await responder.respond(to: request)
                        for index in body.indices { body[index] = 0 }  // bodies may hold keys
                        let keepAlive = requestHead.isKeepAlive && !tracker.isShuttingDown
                        try await write(response, to: outbound, version: requestHead.version, keepAlive: keepAlive)
                        tracker.setBusy(channel, false)
                        head = nil
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["peer": "\(connection.peer)", "error": "\(error)"])
        }
    }

    private static func tooLarge(_ limit: Int) -> HTTPResponse {
        let body = "{\"errors\":[\"request body is larger than the \(limit)-byte limit (max_request_size)\"]}"
        return HTTPResponse(status: .payloadTooLarge, headers: ["Content-Type": "application/json"], body: Array(body.utf8))
    }

    private func write(
        _ response: HTTPResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        version: HTTPVersion, keepAlive: Bool
    ) async throws {
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        // One write of all three parts: each write is a hop through the writer's state machine
        // and a flush, and a response is small.
        var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: version, status: response.status, headers: headers))]
        if !response.body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: response.body)))) }
        parts.append(.end(nil))
        try await outbound.write(contentsOf: parts)
    }
}

/// Admission of new connections: the process budget (with the Unix socket's reserve) and the
/// listener's own `max_connections`. A connection over either is closed before a byte is read;
/// that is logged once a minute with a count.
final class Admission: Sendable {
    let limits: HTTPListener.Limits
    let listener: String
    let logger: Logger
    private let open = Mutex(0)
    private let refusals = ThrottledWarnings()

    init(limits: HTTPListener.Limits, listener: String, logger: Logger) {
        self.limits = limits
        self.listener = listener
        self.logger = logger
    }

    func admit(_ channel: any Channel, unix: Bool) throws {
        let underCap = open.withLock { open -> Bool in
            if let cap = limits.maxConnections, open >= cap { return false }
            open += 1
            return true
        }
        guard underCap else { throw refuse(channel, "max_connections (\(limits.maxConnections ?? 0)) reached") }
        guard limits.budget.admit(unix: unix) else {
            open.withLock { $0 -= 1 }
            let reason = unix ? "the process's connection budget is spent (raise LimitNOFILE)"
                : "the TCP share of the process's connection budget is spent (\(limits.budget.capacity - limits.budget.reservedForUnix) connections; the rest is kept for the unix socket)"
            throw refuse(channel, reason)
        }
        let budget = limits.budget
        channel.closeFuture.whenComplete { [self] _ in
            budget.release(unix: unix)
            open.withLock { $0 -= 1 }
        }
    }

    private func refuse(_ channel: any Channel, _ reason: String) -> ListenerError {
        if let count = refusals.shouldLog(reason) {
            logger.warning("refusing new connections", metadata: ["listener": "\(listener)", "reason": "\(reason)", "refused_in_last_minute": "\(count)"])
        }
        channel.close(promise: nil)
        return ListenerError(reason)
    }
}

/// A listener that could not start, with a message for the operator.
public struct ListenerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
