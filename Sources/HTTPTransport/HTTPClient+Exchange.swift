import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#endif

/// One request from connect to answer. Everything after ``start()`` runs on `eventLoop`, so
/// the mutable state needs no lock; whichever comes first — the answer, an error, the
/// deadline — completes the promise, and everything later is ignored.
final class HTTPExchange: @unchecked Sendable {
    private let request: HTTPClientRequest
    private let target: HTTPTarget
    private let proxy: ProxyEnvironment.Proxy?
    private let eventLoop: any EventLoop
    private let promise: EventLoopPromise<HTTPClientResponse>
    private let started = ContinuousClock.now
    private var channel: (any Channel)?
    private var deadline: Scheduled<Void>?
    private var finished = false

    init(request: HTTPClientRequest, target: HTTPTarget, proxy: ProxyEnvironment.Proxy?, eventLoop: any EventLoop) {
        self.request = request
        self.target = target
        self.proxy = proxy
        self.eventLoop = eventLoop
        self.promise = eventLoop.makePromise()
    }

    func start() -> EventLoopFuture<HTTPClientResponse> {
        eventLoop.execute {
            self.deadline = self.eventLoop.scheduleTask(in: Self.timeAmount(self.request.timeout)) {
                self.fail(.timedOut, "no complete answer within \(Self.milliseconds(self.request.timeout)) ms")
            }
            self.connect()
        }
        return promise.futureResult
    }

    // MARK: Connecting

    private func connect() {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.timeAmount(min(request.connectTimeout, request.timeout)))
        let connected: EventLoopFuture<any Channel>
        if let path = request.unixSocketPath {
            connected = bootstrap.connect(unixDomainSocketPath: path)
        } else if let proxy {
            connected = bootstrap.connect(host: proxy.host, port: proxy.port)
        } else {
            connected = bootstrap.connect(host: target.host, port: target.port)
        }
        connected.whenComplete { result in
            switch result {
            case .failure(let error):
                self.fail(error)
            case .success(let channel):
                guard !self.finished else { return channel.close(promise: nil) }
                self.channel = channel
                if self.proxy != nil, self.target.scheme == "https" {
                    self.add { try $0.addHandler(ProxyTunnelHandler(exchange: self, authority: self.target.authority, authorization: self.proxy?.authorization)) }
                } else {
                    self.sendRequest()
                }
            }
        }
    }

    /// After a `CONNECT` tunnel is up, or at once on a direct connection.
    func sendRequest() {
        add { pipeline in
            if self.target.scheme == "https" {
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.certificateVerification = .fullVerification
                if let bundle = self.request.caBundlePath { configuration.trustRoots = .file(bundle) }
                if let client = self.request.clientCertificate {
                    configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(client.certificatePath).map { .certificate($0) }
                    configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: client.keyPath, format: .pem))
                }
                let context = try NIOSSLContext(configuration: configuration)
                try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: self.verifyName))
            }
            try pipeline.addHTTPClientHandlers()
            try pipeline.addHandler(HTTPExchangeHandler(
                exchange: self, head: self.requestHead(), body: self.request.body,
                verifyName: self.verifyName, isTLS: self.target.scheme == "https"
            ))
        }
    }

    /// The name the server's certificate must carry (and the SNI): `serverName` when given,
    /// else the URL's host; `nil` for plain HTTP and IP literals (checked against the address).
    var verifyName: String? {
        guard target.scheme == "https" else { return nil }
        if let name = request.serverName, !name.isEmpty { return name }
        return target.isIPAddress ? nil : target.host
    }

    private func add(_ configure: (ChannelPipeline.SynchronousOperations) throws -> Void) {
        guard let channel, !finished else { return }
        do { try configure(channel.pipeline.syncOperations) } catch { fail(error) }
    }

    private func requestHead() -> HTTPRequestHead {
        var headers = HTTPHeaders()
        let given = Set(request.headers.map { $0.0.lowercased() })
        if !given.contains("host") { headers.add(name: "Host", value: target.hostHeader) }
        for (name, value) in request.headers where name.lowercased() != "expect" {
            headers.add(name: name, value: value)
        }
        if !given.contains("accept") { headers.add(name: "Accept", value: "*/*") }
        if let body = request.body {
            headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        } else if ["POST", "PUT", "PATCH"].contains(request.method.uppercased()) {
            headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        headers.replaceOrAdd(name: "Connection", value: "close")
        // A plain-HTTP proxy gets the absolute URL and the credentials; a tunnel got them in CONNECT.
        let viaProxy = proxy != nil && target.scheme == "http"
        if viaProxy, let authorization = proxy?.authorization { headers.add(name: "Proxy-Authorization", value: authorization) }
        return HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: viaProxy ? target.absoluteForm : target.requestTarget, headers: headers)
    }

    // MARK: Finishing

    func succeed(_ response: HTTPClientResponse) {
        guard !finished else { return }
        finished = true
        deadline?.cancel()
        channel?.close(promise: nil)
        promise.succeed(response)
    }

    func fail(_ kind: HTTPTransportError.Kind, _ detail: String, tlsProblem: HTTPTransportError.TLSProblem? = nil) {
        guard !finished else { return }
        finished = true
        deadline?.cancel()
        channel?.close(promise: nil)
        var error = HTTPTransportError(kind: kind, message: "\(request.method) \(displayURL): \(detail)", tlsProblem: tlsProblem)
        error.elapsed = ContinuousClock.now - started
        promise.fail(error)
    }

    func fail(_ error: any Error) {
        let described = Self.describe(error, request: request, target: target)
        fail(described.kind, described.message, tlsProblem: described.tlsProblem)
    }

    private var displayURL: String {
        if let path = request.unixSocketPath { return "unix://\(path) \(target.requestTarget.split(separator: "?").first ?? "")" }
        return request.url
    }

    /// What went wrong, in words an operator can act on, and whether waiting can help. The
    /// message is the detail only; ``fail(_:_:tlsProblem:)`` puts the request before it.
    static func describe(_ error: any Error, request: HTTPClientRequest, target: HTTPTarget) -> HTTPTransportError {
        switch error {
        case let error as HTTPTransportError:
            return error
        case ChannelError.connectTimeout:
            return HTTPTransportError(kind: .timedOut, message: "could not connect within \(milliseconds(min(request.connectTimeout, request.timeout))) ms")
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first {
                return describe(first.error, request: request, target: target)
            }
            return HTTPTransportError(kind: .couldNotConnect, message: "could not resolve host \(error.host)")
        case let error as IOError:
            return HTTPTransportError(kind: .couldNotConnect, message: String(cString: strerror(error.errnoCode)).lowercased())
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return nameMismatch(request.serverName ?? target.host)
        case let error as NIOSSLError:
            if case .uncleanShutdown = error {
                return HTTPTransportError(kind: .couldNotConnect, message: "the server closed the TLS connection before answering")
            }
            return describeTLS("\(error)", request: request)
        case is NIOSSLExtraError, is BoringSSLError:
            return describeTLS("\(error)", request: request)
        case is HTTPParserError:
            return HTTPTransportError(kind: .other, message: "the answer is not valid HTTP: \(error)")
        case ChannelError.ioOnClosedChannel, ChannelError.eof, ChannelError.outputClosed, ChannelError.alreadyClosed:
            return HTTPTransportError(kind: .couldNotConnect, message: "the connection closed before an answer")
        default:
            return HTTPTransportError(kind: .other, message: "\(error)")
        }
    }

    static func nameMismatch(_ name: String) -> HTTPTransportError {
        HTTPTransportError(kind: .tls, message: "the server's certificate is not valid for \(name)", tlsProblem: .nameMismatch)
    }

    /// BoringSSL says what failed only in its error text: the verification result, or the alert
    /// the server sent (a server that demands a client certificate answers with an alert).
    private static func describeTLS(_ text: String, request: HTTPClientRequest) -> HTTPTransportError {
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            let setting = request.caBundlePath.map { "the CA bundle \($0)" } ?? "the system's CAs"
            return HTTPTransportError(kind: .tls, message: "the server's certificate is not trusted by \(setting) (point ca_cert or VAULT_CACERT at the CA that signed it)",
                                      tlsProblem: .untrustedCertificate)
        }
        if text.contains("ALERT_CERTIFICATE_REQUIRED") || (request.clientCertificate == nil && text.contains("ALERT_HANDSHAKE_FAILURE")) {
            return HTTPTransportError(kind: .tls, message: "the server asks for a client certificate and none was sent", tlsProblem: .clientCertificateRequired)
        }
        if let sent = request.clientCertificate,
           ["ALERT_BAD_CERTIFICATE", "ALERT_UNKNOWN_CA", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_UNSUPPORTED_CERTIFICATE", "ALERT_CERTIFICATE_EXPIRED", "ALERT_HANDSHAKE_FAILURE"]
            .contains(where: text.contains) {
            return HTTPTransportError(kind: .tls, message: "the server refused the client certificate \(sent.certificatePath)", tlsProblem: .clientCertificateRefused)
        }
        return HTTPTransportError(kind: .tls, message: "TLS failed: \(text)", tlsProblem: .other)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(max(1, duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000))
    }
}

/// Writes the request — at once on plain connections, after the handshake and the name check
/// on TLS ones — and collects the answer.
final class HTTPExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let exchange: HTTPExchange
    private let head: HTTPRequestHead
    private let body: [UInt8]?
    /// The host name a TLS peer's certificate must carry; `nil` for plain HTTP and IP literals.
    private let verifyName: String?
    private let isTLS: Bool
    private var status = 0
    private var headers: [String: String] = [:]
    private var received: [UInt8] = []

    init(exchange: HTTPExchange, head: HTTPRequestHead, body: [UInt8]?, verifyName: String?, isTLS: Bool) {
        self.exchange = exchange
        self.head = head
        self.body = body
        self.verifyName = verifyName
        self.isTLS = isTLS
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if !isTLS { send(context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? TLSUserEvent, case .handshakeCompleted = event else {
            return context.fireUserInboundEventTriggered(event)
        }
        if let verifyName {
            // swift-nio-ssl also accepts a certificate whose IP-address name matches the address
            // connected to, even when the URL named a host: DNS pointing the name at a server
            // with any trusted certificate for its own address would pass. Like curl (OpenSSL's
            // X509_check_host), a named host must be among the certificate's DNS names.
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
            let names = certificate.map(CertificateNames.dnsNames(of:)) ?? []
            if !names.isEmpty, !names.contains(where: { CertificateNames.matches($0, host: verifyName) }) {
                let mismatch = HTTPExchange.nameMismatch(verifyName)
                return exchange.fail(mismatch.kind, mismatch.message, tlsProblem: mismatch.tlsProblem)
            }
        }
        send(context: context)
    }

    private func send(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let exchange = self.exchange
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenFailure { exchange.fail($0) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            headers = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
        case .body(var buffer):
            guard received.count + buffer.readableBytes <= HTTPClient.maxResponseBytes else {
                return exchange.fail(.other, "the answer is larger than \(HTTPClient.maxResponseBytes) bytes")
            }
            received += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            exchange.succeed(HTTPClientResponse(status: status, headers: headers, body: received))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange.fail(.couldNotConnect, status == 0 ? "the server closed the connection without answering" : "the server closed the connection mid-answer")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        exchange.fail(error)
    }
}

/// `CONNECT host:port` through a plain-HTTP proxy; on `2xx` it steps aside and the exchange
/// starts TLS inside the tunnel.
final class ProxyTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let exchange: HTTPExchange
    private let authority: String
    private let authorization: String?
    private var answer: [UInt8] = []

    init(exchange: HTTPExchange, authority: String, authorization: String?) {
        self.exchange = exchange
        self.authority = authority
        self.authorization = authorization
    }

    func handlerAdded(context: ChannelHandlerContext) {
        var text = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let authorization { text += "Proxy-Authorization: \(authorization)\r\n" }
        text += "\r\n"
        let exchange = self.exchange
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenFailure { exchange.fail($0) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        answer += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let end = answer.firstRange(of: Array("\r\n\r\n".utf8)) else {
            if answer.count > 16 * 1024 { exchange.fail(.couldNotConnect, "the proxy's answer to CONNECT has no end") }
            return
        }
        let statusLine = String(decoding: answer[..<(answer.firstRange(of: Array("\r\n".utf8))?.lowerBound ?? end.lowerBound)], as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let code = Int(parts[1]), (200..<300).contains(code) else {
            return exchange.fail(.couldNotConnect, "the proxy refused the tunnel: \(statusLine)")
        }
        guard end.upperBound == answer.count else {
            return exchange.fail(.couldNotConnect, "the proxy sent data before the tunnel was used")
        }
        let exchange = self.exchange
        context.pipeline.syncOperations.removeHandler(context: context).whenComplete { result in
            switch result {
            case .success: exchange.sendRequest()
            case .failure(let error): exchange.fail(error)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange.fail(.couldNotConnect, "the proxy closed the connection during CONNECT")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        exchange.fail(error)
    }
}

/// The DNS names a certificate is issued for, and RFC 6125 matching against them.
enum CertificateNames {
    static func dnsNames(of certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name in
            name.nameType == .dnsName ? String(decoding: Array(name.contents), as: UTF8.self) : nil
        }
    }

    /// Case-insensitive; a wildcard only as the whole leftmost label of a name with at least
    /// three labels, standing for exactly one label (`*.example.com` matches `kms.example.com`,
    /// not `example.com` or `a.b.example.com`).
    static func matches(_ pattern: String, host: String) -> Bool {
        var pattern = pattern.lowercased()
        var host = host.lowercased()
        if pattern.hasSuffix(".") { pattern.removeLast() }
        if host.hasSuffix(".") { host.removeLast() }
        guard pattern.hasPrefix("*.") else { return pattern == host }
        let suffix = pattern.dropFirst(1)  // ".example.com"
        guard suffix.split(separator: ".").count >= 2, host.hasSuffix(suffix) else { return false }
        let label = host.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }
}
