import LeanFoundation
import HTTPTransport

/// The EC2 instance metadata service, IMDSv2 first.
///
/// The token `PUT` has a short deadline (1 s). When it times out while a tokenless `GET`
/// answers, the instance's `HttpPutResponseHopLimit` is 1 and the caller sits one hop further
/// away (a container): the response to the PUT dies on the way back. That is logged once with
/// the fix, IMDSv1 is used (when allowed) and the decision is remembered for 10 minutes, so no
/// later call pays the timeout again. With IMDSv1 disabled, the same symptom fails at once
/// with that diagnosis instead of hanging.
public actor IMDSClient {
    public enum Diagnosis: Sendable, Equatable, CustomStringConvertible {
        case unknown
        case v2
        case hopLimit(v1Fallback: Bool)
        case v1Only
        case unreachable(String)
        case disabled
        case refused

        public var description: String {
            switch self {
            case .unknown: "not probed yet"
            case .v2: "IMDSv2 ok"
            case .hopLimit(true): "hop limit: the IMDSv2 token PUT timed out but IMDSv1 answered; using IMDSv1. Fix: aws ec2 modify-instance-metadata-options --instance-id … --http-put-response-hop-limit 2"
            case .hopLimit(false): "hop limit: the IMDSv2 token PUT timed out and IMDSv1 is disabled. Fix: aws ec2 modify-instance-metadata-options --instance-id … --http-put-response-hop-limit 2"
            case .v1Only: "IMDSv1 only (the token endpoint is not there)"
            case .unreachable(let why): "unreachable: \(why)"
            case .disabled: "disabled by AWS_EC2_METADATA_DISABLED"
            case .refused: "the token PUT was refused (403): the metadata service is turned off for this instance"
            }
        }
    }

    public nonisolated let endpoint: String
    public nonisolated let v1Disabled: Bool
    public nonisolated let disabled: Bool
    public nonisolated let tokenTimeout: Duration
    private var token: (value: String, expires: ContinuousClock.Instant)?
    private var useV1Until: ContinuousClock.Instant?
    public private(set) var diagnosis: Diagnosis = .unknown
    /// Called once per new diagnosis worth a log line (the hop-limit fix).
    private let log: @Sendable (String) -> Void
    private var loggedHopLimit = false

    static let tokenTTL = 21_600
    static let reprobeAfter: Duration = .seconds(600)

    /// Reads `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `…_ENDPOINT_MODE` (IPv4/IPv6),
    /// `AWS_EC2_METADATA_DISABLED` and `AWS_EC2_METADATA_V1_DISABLED`.
    public init(environment: [String: String], tokenTimeout: Duration = .seconds(1), log: @escaping @Sendable (String) -> Void = { _ in }) {
        if let endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"], !endpoint.isEmpty {
            self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        } else if environment["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercased() == "ipv6" {
            self.endpoint = "http://[fd00:ec2::254]"
        } else {
            self.endpoint = "http://169.254.169.254"
        }
        self.disabled = environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
        self.v1Disabled = environment["AWS_EC2_METADATA_V1_DISABLED"]?.lowercased() == "true"
        self.tokenTimeout = tokenTimeout
        self.log = log
    }

    /// GETs a metadata path (`/latest/meta-data/placement/region`), with a token when possible.
    public func get(_ path: String) async throws(AWSError) -> String {
        guard !disabled else { diagnosis = .disabled; throw AWSError(.needsFix, "IMDS is disabled by AWS_EC2_METADATA_DISABLED") }
        let token = try await currentToken()
        var headers = [(String, String)]()
        if let token { headers.append(("X-aws-ec2-metadata-token", token)) }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: endpoint + path, headers: headers, connectTimeout: .seconds(1), timeout: .seconds(2)))
        } catch {
            throw AWSError(.retryable, "IMDS GET \(path): \(error)")
        }
        if response.status == 401, token != nil {
            self.token = nil  // expired or revoked: fetch a new one next time
            throw AWSError(.retryable, "IMDS GET \(path): the token was refused (401); renewing it")
        }
        guard response.status == 200 else {
            throw AWSError(response.status == 404 ? .needsFix : .retryable, "IMDS GET \(path): HTTP \(response.status)")
        }
        return String(decoding: response.body, as: UTF8.self)
    }

    /// A valid token, or nil to use IMDSv1.
    private func currentToken() async throws(AWSError) -> String? {
        let now = ContinuousClock.now
        if let token, token.expires > now { return token.value }
        if let until = useV1Until, until > now { return nil }
        do {
            let response = try await HTTPClient.send(HTTPClientRequest(
                method: "PUT", url: endpoint + "/latest/api/token",
                headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL))],
                connectTimeout: tokenTimeout, timeout: tokenTimeout
            ))
            switch response.status {
            case 200:
                let value = String(decoding: response.body, as: UTF8.self)
                token = (value, now + .seconds(Self.tokenTTL - 60))
                useV1Until = nil
                diagnosis = .v2
                return value
            case 403:
                diagnosis = .refused
                throw AWSError(.needsFix, "IMDS refused a token (403): the metadata service is disabled for this instance")
            case 404, 405:
                diagnosis = .v1Only
                useV1Until = now + Self.reprobeAfter
                return nil
            default:
                throw AWSError(.retryable, "IMDS token PUT answered HTTP \(response.status)")
            }
        } catch let error as HTTPTransportError where error.kind == .timedOut {
            return try await diagnoseHopLimit(now)
        } catch let error as HTTPTransportError {
            diagnosis = .unreachable(error.message)
            throw AWSError(.retryable, "IMDS at \(endpoint) is unreachable: \(error)")
        } catch let error as AWSError {
            throw error
        } catch {
            throw AWSError(.retryable, "IMDS: \(error)")
        }
    }

    /// The PUT timed out: is it the hop limit (a tokenless GET answers) or IMDS being away?
    private func diagnoseHopLimit(_ now: ContinuousClock.Instant) async throws(AWSError) -> String? {
        let probe: HTTPClientResponse
        do {
            probe = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: endpoint + "/latest/meta-data/", connectTimeout: .milliseconds(300), timeout: .milliseconds(400)))
        } catch {
            diagnosis = .unreachable("the token PUT and a plain GET both got no answer")
            throw AWSError(.retryable, "IMDS at \(endpoint) does not answer (is this an EC2 instance? set AWS_EC2_METADATA_DISABLED=true elsewhere)")
        }
        let v1Allowed = probe.status == 200 && !v1Disabled
        diagnosis = .hopLimit(v1Fallback: v1Allowed)
        if !loggedHopLimit {
            loggedHopLimit = true
            log("IMDS: \(diagnosis)")
        }
        guard v1Allowed else {
            let reason = v1Disabled ? "AWS_EC2_METADATA_V1_DISABLED is set" : "the instance requires tokens (HttpTokens=required)"
            throw AWSError(.needsFix, "IMDSv2 token PUT timed out (the response hop limit is too low for this container) and IMDSv1 is not allowed (\(reason)): set HttpPutResponseHopLimit=2 on the instance")
        }
        useV1Until = now + Self.reprobeAfter
        return nil
    }
}

/// Credentials of the instance profile's role, from IMDS.
public struct IMDSCredentialProvider: AWSCredentialProvider {
    public let client: IMDSClient

    public init(client: IMDSClient) { self.client = client }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        let roles = try await client.get("/latest/meta-data/iam/security-credentials/")
        guard let role = roles.split(separator: "\n").first.map(String.init), !role.isEmpty else {
            throw AWSError(.needsFix, "IMDS has no IAM role: attach an instance profile to the instance")
        }
        let body = try await client.get("/latest/meta-data/iam/security-credentials/\(role)")
        guard let json = AnyJSON.object(body.utf8),
              let key = json["AccessKeyId"] as? String, let secret = json["SecretAccessKey"] as? String else {
            throw AWSError(.retryable, "IMDS returned unreadable credentials for role \(role)")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: json["Token"] as? String,
                              expiration: (json["Expiration"] as? String).flatMap(ISO8601.parse))
    }
}
