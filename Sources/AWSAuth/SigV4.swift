import Crypto
import LeanFoundation
import SealKit

/// AWS Signature Version 4 (header or query-string form), exactly as the specification and
/// AWS's signing test suite define it.
public enum SigV4 {
    /// A request to sign. `path` and `query` are as they appear on the request line.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: String
        /// Headers in order; duplicates allowed (their values are joined with commas).
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)], body: [UInt8] = []) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }
    }

    public struct Options: Sendable {
        /// Remove `.`/`..` segments and duplicate slashes (every service but S3).
        public var normalizePath = true
        /// Add `x-amz-content-sha256` with the body's hash.
        public var signBody = false
        /// Add the session token after signing instead of signing it (some services want this).
        public var omitSessionToken = false
        /// Query-string (presigned) signing with this lifetime, instead of the Authorization header.
        public var queryExpiry: Int?

        public init(normalizePath: Bool = true, signBody: Bool = false, omitSessionToken: Bool = false, queryExpiry: Int? = nil) {
            self.normalizePath = normalizePath
            self.signBody = signBody
            self.omitSessionToken = omitSessionToken
            self.queryExpiry = queryExpiry
        }
    }

    /// Everything a signature was made from, for tests and `doctor`.
    public struct Result: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// Headers to add to the request (header form).
        public var headersToAdd: [(name: String, value: String)]
        /// The full query string to send (query form), else the original.
        public var query: String
    }

    /// Signs `request` for `service` in `region` at `date`.
    public static func sign(
        _ request: Request, credentials: AWSCredentials, region: String, service: String,
        date: Date, options: Options = Options()
    ) -> Result {
        let amzDate = timestamp(date)
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let payloadHash = Hex.encode(SHA256.hash(data: request.body))

        var headers = request.headers
        var added = [(name: String, value: String)]()
        var queryItems = parseQuery(request.query)

        if let expiry = options.queryExpiry {
            queryItems += [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
                ("X-Amz-Date", amzDate),
                ("X-Amz-Expires", String(expiry)),
            ]
            if let token = credentials.sessionToken, !options.omitSessionToken {
                queryItems.append(("X-Amz-Security-Token", token))
            }
        } else {
            added.append(("X-Amz-Date", amzDate))
            if options.signBody { added.append(("x-amz-content-sha256", payloadHash)) }
            if let token = credentials.sessionToken, !options.omitSessionToken {
                added.append(("X-Amz-Security-Token", token))
            }
            headers += added
        }

        let canonicalHeaders = canonicalize(headers)
        let signedHeaders = canonicalHeaders.map(\.name).joined(separator: ";")
        if options.queryExpiry != nil {
            queryItems.append(("X-Amz-SignedHeaders", signedHeaders))
        }
        let canonicalQuery = canonicalQueryString(queryItems)

        let canonicalRequest = [
            request.method,
            canonicalPath(request.path, normalize: options.normalizePath),
            canonicalQuery,
            canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        let key = signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        let signature = Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))

        var query = request.query
        if options.queryExpiry != nil {
            var items = queryItems.map { "\(encode($0.0))=\(encode($0.1))" }
            items.append("X-Amz-Signature=\(signature)")
            if let token = credentials.sessionToken, options.omitSessionToken {
                items.append("X-Amz-Security-Token=\(encode(token))")
            }
            query = items.joined(separator: "&")
        } else {
            if let token = credentials.sessionToken, options.omitSessionToken {
                added.append(("X-Amz-Security-Token", token))
            }
            added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        }
        return Result(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, headersToAdd: added, query: query)
    }

    // MARK: - Canonical parts

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        UTCTime.compact(date)
    }

    /// Lower-case names, values trimmed with inner runs of white space (and folded lines)
    /// collapsed to one space, duplicates joined with commas in order, sorted by name.
    static func canonicalize(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var merged = [String: [String]]()
        var order = [String]()
        for (name, value) in headers {
            let key = name.lowercased()
            if merged[key] == nil { order.append(key) }
            let collapsed = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
            merged[key, default: []].append(collapsed)
        }
        return order.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    /// The path with dot segments and duplicate slashes removed (when normalising), each
    /// segment percent-encoded.
    static func canonicalPath(_ path: String, normalize: Bool) -> String {
        guard !path.isEmpty else { return "/" }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let trailingSlash = path.hasSuffix("/") && path.count > 1
        if normalize {
            var output = [String]()
            for segment in segments {
                switch segment {
                case "", ".": continue
                case "..": if !output.isEmpty { output.removeLast() }
                default: output.append(segment)
                }
            }
            var result = "/" + output.map { encode($0) }.joined(separator: "/")
            if trailingSlash && !output.isEmpty { result += "/" }
            return result
        }
        segments = segments.map { encode($0) }
        return segments.joined(separator: "/")
    }

    /// Encoded `key=value` pairs sorted by key, then value (byte order), joined with `&`.
    static func canonicalQueryString(_ items: [(String, String)]) -> String {
        let encoded: [(key: String, value: String)] = items.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { (a, b) -> Bool in
            a.key == b.key ? a.value < b.value : a.key < b.key
        }
        return sorted.map { pair -> String in pair.key + "=" + pair.value }.joined(separator: "&")
    }

    /// Query items from a raw query string, percent-decoded (they are re-encoded canonically).
    static func parseQuery(_ query: String) -> [(String, String)] {
        guard !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = PercentEncoding.decode(parts[0]) ?? String(parts[0])
            let value = parts.count > 1 ? (PercentEncoding.decode(parts[1]) ?? String(parts[1])) : ""
            return (key, value)
        }
    }

    /// RFC 3986 encoding: everything but `A–Z a–z 0–9 - _ . ~` as `%XX` (upper-case hex).
    public static func encode(_ text: String) -> String {
        PercentEncoding.encode(text)
    }

    static func signingKey(secret: String, day: String, region: String, service: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
        }
        let date = hmac(SymmetricKey(data: Array(("AWS4" + secret).utf8)), day)
        return hmac(hmac(hmac(date, region), service), "aws4_request")
    }
}
