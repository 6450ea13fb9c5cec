import LeanFoundation

/// An AWS access key, with its session token and expiry when temporary.
///
/// `description` never shows the secret: credentials are safe to interpolate into a log line.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// `nil` for long-term keys. An empty token counts as none, as botocore treats it
    /// (`AWS_SESSION_TOKEN=""`, `"Token": ""` in a credentials document): sent as an empty
    /// `X-Amz-Security-Token`, KMS answers `InvalidClientTokenId`.
    public var sessionToken: String? {
        didSet { if sessionToken?.isEmpty == true { sessionToken = nil } }
    }
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken?.isEmpty == true ? nil : sessionToken
        self.expiration = expiration
    }

    /// True when the credentials expire within `margin` (refresh them before they do).
    public func expires(within margin: TimeInterval, now: Date = Date()) -> Bool {
        guard let expiration else { return false }
        return expiration.timeIntervalSince(now) < margin
    }

    public var description: String {
        let prefix = accessKeyID.prefix(4)
        return "AWSCredentials(\(prefix)…\(sessionToken == nil ? "" : ", temporary")\(expiration.map { ", expires \($0)" } ?? ""))"
    }
}
