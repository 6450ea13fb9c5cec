import CVaultSystem
import Foundation
import Logging
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
}

/// Connections currently open, so a graceful shutdown can close the idle ones and let the
/// busy ones finish their request.
final class ConnectionTracker: Sendable {
    private struct State {
        var shuttingDown = false
        var connections: [ObjectIdentifier: (channel: any Channel, busy: Bool)] = [:]
    }
    private let state = Mutex(State())

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    func opened(_ channel: any Channel) {
        state.withLock { $0.connections[ObjectIdentifier(channel)] = (channel, false) }
    }

    func closed(_ channel: any Channel) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Marks a request in progress; returns false when shutting down (answer and close).
    func setBusy(_ channel: any Channel, _ busy: Bool) {
        state.withLock { $0.connections[ObjectIdentifier(channel)]?.busy = busy }
    }

    /// Stops keep-alive and closes every idle connection.
    func beginShutdown() {
        let idle = state.withLock { state -> [any Channel] in
            state.shuttingDown = true
            return state.connections.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// An HTTP/1.1 listener on a Unix socket or a TCP port, serving an ``HTTPResponder``.
public final class HTTPListener: Sendable {
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

    public let address: Address
    /// The TCP port actually bound (useful with port 0), or nil for Unix sockets.
    public let boundPort: Int?
    private let server: NIOAsyncChannel<HTTPConnection, Never>
    private let responder: any HTTPResponder
    private let maxRequestSize: Int
    private let logger: Logger
    private let tracker = ConnectionTracker()

    private init(address: Address, server: NIOAsyncChannel<HTTPConnection, Never>, responder: any HTTPResponder, maxRequestSize: Int, logger: Logger) {
        self.address = address
        self.server = server
        self.responder = responder
        self.maxRequestSize = maxRequestSize
        self.logger = logger
        self.boundPort = server.channel.localAddress?.port
    }

    /// Binds the address. For Unix sockets an existing socket file is replaced and the mode set.
    public static func bind(
        _ address: Address, responder: any HTTPResponder, maxRequestSize: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) async throws -> HTTPListener {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        let server: NIOAsyncChannel<HTTPConnection, Never>
        switch address {
        case .unix(let path, let mode, let policy):
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                acceptUnix(channel, policy: policy, logger: logger)
            }
            guard chmod(path, mode) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await server.channel.close()
                throw ListenerError("cannot set mode \(String(mode, radix: 8)) on the socket \(path): \(reason)")
            }
        case .tcp(let host, let port, let tls):
            server = try await bootstrap.bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let peer = Peer.tcp(channel.remoteAddress?.description ?? "unknown")
                    return try makeConnection(channel, peer: peer, tls: tls)
                }
            }
        }
        return HTTPListener(address: address, server: server, responder: responder, maxRequestSize: maxRequestSize, logger: logger)
    }

    private static func acceptUnix(_ channel: any Channel, policy: PeerPolicy, logger: Logger) -> EventLoopFuture<HTTPConnection> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ListenerError("the socket cannot report its peer"))
        }
        let credentials: EventLoopFuture<csystem_peer_credentials> = provider.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET),
            name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)
        )
        return credentials.flatMapThrowing { credentials in
            guard policy.allows(uid: credentials.uid, gid: credentials.gid) else {
                logger.warning("refused a unix-socket peer outside allowed_uids/allowed_gids", metadata: [
                    "uid": "\(credentials.uid)", "gid": "\(credentials.gid)", "pid": "\(credentials.pid)",
                ])
                // Close at once: the peer gets no byte, not even an error response.
                channel.close(promise: nil)
                throw PeerRejected(uid: credentials.uid, gid: credentials.gid)
            }
            let peer = Peer.unix(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
            return try makeConnection(channel, peer: peer, tls: nil)
        }
    }

    private static func makeConnection(_ channel: any Channel, peer: Peer, tls: NIOSSLContext?) throws -> HTTPConnection {
        if let tls {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
        }
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        let async = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
        return HTTPConnection(channel: async, peer: peer)
    }

    /// Accepts and serves connections until ``shutdown()``; returns when every connection is done.
    public func run() async {
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            } catch {
                logger.debug("listener stopped", metadata: ["address": "\(address)", "error": "\(error)"])
            }
        }
    }

    /// Stops accepting, lets requests in progress finish, closes idle connections.
    public func shutdown() {
        tracker.beginShutdown()
        server.channel.close(promise: nil)
    }

    private func serve(_ connection: HTTPConnection) async {
        let channel = connection.channel.channel
        tracker.opened(channel)
        defer { tracker.closed(channel) }
        if tracker.isShuttingDown {
            channel.close(promise: nil)
            return
        }
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
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
                        let request = HTTPRequest(method: requestHead.method, uri: requestHead.uri, headers: requestHead.headers, body: body, peer: connection.peer)
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
        try await outbound.write(.head(HTTPResponseHead(version: version, status: response.status, headers: headers)))
        if !response.body.isEmpty {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
        }
        try await outbound.write(.end(nil))
    }
}

/// A listener that could not start, with a message for the operator.
public struct ListenerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
