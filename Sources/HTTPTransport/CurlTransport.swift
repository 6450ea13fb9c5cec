import CCurl
import Foundation

/// An outbound HTTP request. Bodies and responses are small (API calls), so both are buffered.
public struct HTTPClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Route the request over this Unix socket instead of TCP (`unix:///path` addresses).
    public var unixSocketPath: String?
    /// How long connecting may take.
    public var connectTimeout: Duration
    /// How long the whole exchange may take, connecting included.
    public var timeout: Duration
    /// A PEM bundle of CAs to trust instead of the system's.
    public var caBundlePath: String?

    public init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        unixSocketPath: String? = nil, connectTimeout: Duration = .seconds(5), timeout: Duration = .seconds(30),
        caBundlePath: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.unixSocketPath = unixSocketPath
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.caBundlePath = caBundlePath
    }
}

/// A response: status, headers (names lower-cased) and body.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
}

/// Why a request got no HTTP answer.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case couldNotConnect, timedOut, tls, invalidRequest, other
    }
    public let kind: Kind
    public let message: String
    /// How long the exchange ran before it failed, measured around libcurl's own work (so it
    /// says when the deadline fired, however late the caller's task resumed).
    public var elapsed: Duration = .zero
    /// Connection failures and time-outs are worth retrying; the others need a fix.
    public var isRetryable: Bool { kind == .couldNotConnect || kind == .timedOut }
    public var description: String { message }
}

/// HTTP on libcurl: exact connect and total deadlines, Unix sockets, `HTTPS_PROXY`/`NO_PROXY`
/// from the environment (libcurl's own handling), custom CA bundles, TLS verification always
/// on. Each request runs on its own thread, so the cooperative pool never blocks.
public enum CurlTransport {
    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    public static func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        _ = globalInit
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try perform(request) })
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }

    /// Collects what libcurl hands the callbacks.
    private final class Collector {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
    }

    private static func perform(_ request: HTTPClientRequest) throws -> HTTPClientResponse {
        guard let handle = curl_easy_init() else {
            throw HTTPTransportError(kind: .other, message: "libcurl could not create a handle")
        }
        defer { curl_easy_cleanup(handle) }
        let collector = Collector()
        let context = Unmanaged.passRetained(collector)
        defer { context.release() }

        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let started = ContinuousClock.now
        let result: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            ccurl_setopt_string(handle, CURLOPT_URL, request.url)
            ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
            ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout))
            ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout))
            ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
            ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
            ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
            ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
            ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
            if let path = request.unixSocketPath {
                ccurl_setopt_string(handle, CURLOPT_UNIX_SOCKET_PATH, path)
                ccurl_setopt_string(handle, CURLOPT_NOPROXY, "*")
            }
            if let ca = request.caBundlePath {
                ccurl_setopt_string(handle, CURLOPT_CAINFO, ca)
            }
            if let body = request.body {
                ccurl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                _ = body.withUnsafeBufferPointer { buffer in
                    // COPYPOSTFIELDS: libcurl keeps its own copy, so the buffer may go.
                    ccurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!))
                }
            }
            ccurl_setopt_write_function(handle) { data, size, count, context in
                let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                let length = size * count
                if let data, length > 0 {
                    collector.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
                }
                return length
            }
            ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
            ccurl_setopt_header_function(handle) { data, size, count, context in
                let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                let length = size * count
                if let data, length > 0 {
                    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                    if line.hasPrefix("HTTP/") { collector.headers = [:] }  // a new response (after 100 or a proxy CONNECT)
                    if let colon = line.firstIndex(of: ":") {
                        let name = line[..<colon].lowercased()
                        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                        collector.headers[name] = value
                    }
                }
                return length
            }
            ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque())
            return curl_easy_perform(handle)
        }
        let elapsed = ContinuousClock.now - started
        guard result == CURLE_OK else {
            let buffered = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let detail = buffered.isEmpty ? String(cString: curl_easy_strerror(result)) : buffered
            var error = HTTPTransportError(kind: kind(of: result), message: "\(request.method) \(displayURL(request)): \(detail)")
            error.elapsed = elapsed
            throw error
        }
        var status = 0
        ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPClientResponse(status: status, headers: collector.headers, body: collector.body)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        max(1, Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
    }

    private static func kind(of code: CURLcode) -> HTTPTransportError.Kind {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING:
            .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT: .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: .invalidRequest
        default: .other
        }
    }

    private static func displayURL(_ request: HTTPClientRequest) -> String {
        if let path = request.unixSocketPath { return "unix://\(path) \(URLComponents(string: request.url)?.path ?? "")" }
        return request.url
    }
}
