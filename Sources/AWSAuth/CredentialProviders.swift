import LeanFoundation
import SealKit
import HTTPTransport

/// Anything that yields AWS credentials.
public protocol AWSCredentialProvider: Sendable {
    func credentials() async throws(AWSError) -> AWSCredentials
}

/// Fixed keys (from `access_key`/`secret_key` in the configuration, or the environment).
public struct StaticCredentialProvider: AWSCredentialProvider {
    let value: AWSCredentials
    public init(_ value: AWSCredentials) { self.value = value }
    public func credentials() async throws(AWSError) -> AWSCredentials { value }
}

/// IRSA / web identity: a projected token file exchanged with STS `AssumeRoleWithWebIdentity`.
/// The token file is re-read on every refresh (Kubernetes rotates it).
public struct WebIdentityProvider: AWSCredentialProvider {
    public let tokenFile: String
    public let roleARN: String
    public let sessionName: String
    public let stsEndpoint: String

    public init(tokenFile: String, roleARN: String, sessionName: String, stsEndpoint: String) {
        self.tokenFile = tokenFile
        self.roleARN = roleARN
        self.sessionName = sessionName
        self.stsEndpoint = stsEndpoint
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8).trimmed, !token.isEmpty else {
            throw AWSError(.needsFix, "AWS_WEB_IDENTITY_TOKEN_FILE \(tokenFile) cannot be read or is empty")
        }
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"),
            ("RoleArn", roleARN), ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ].map { "\(SigV4.encode($0.0))=\(SigV4.encode($0.1))" }.joined(separator: "&")
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.send(HTTPClientRequest(
                method: "POST", url: stsEndpoint + "/",
                headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Accept", "application/xml")],
                body: Array(form.utf8), timeout: .seconds(10)
            ))
        } catch {
            throw AWSError(.retryable, "STS AssumeRoleWithWebIdentity at \(stsEndpoint): \(error)")
        }
        let xml = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200 else {
            let code = XMLText.first("Code", in: xml) ?? "HTTP \(response.status)"
            let message = XMLText.first("Message", in: xml) ?? ""
            let retryable = response.status >= 500 || code == "Throttling" || code == "IDPCommunicationError"
            throw AWSError(retryable ? .retryable : .needsFix, code: code,
                           "STS AssumeRoleWithWebIdentity for \(roleARN) failed: \(code) \(message) — check AWS_ROLE_ARN and the role's trust policy")
        }
        guard let key = XMLText.first("AccessKeyId", in: xml), let secret = XMLText.first("SecretAccessKey", in: xml) else {
            throw AWSError(.retryable, "STS AssumeRoleWithWebIdentity answered without credentials")
        }
        return AWSCredentials(
            accessKeyID: key, secretAccessKey: secret, sessionToken: XMLText.first("SessionToken", in: xml),
            expiration: XMLText.first("Expiration", in: xml).flatMap(ISO8601.parse)
        )
    }
}

/// ECS task roles and EKS Pod Identity: credentials from a local HTTP endpoint
/// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `…_FULL_URI`), authorised by
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read each time) or `…_TOKEN`.
public struct ContainerCredentialProvider: AWSCredentialProvider {
    public let url: String
    public let tokenFile: String?
    public let token: String?

    public init(url: String, tokenFile: String?, token: String?) {
        self.url = url
        self.tokenFile = tokenFile
        self.token = token
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        var headers = [("Accept", "application/json")]
        if let tokenFile {
            guard let value = try? String(contentsOfFile: tokenFile, encoding: .utf8).trimmed else {
                throw AWSError(.needsFix, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile) cannot be read")
            }
            headers.append(("Authorization", value))
        } else if let token {
            headers.append(("Authorization", token))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.send(HTTPClientRequest(method: "GET", url: url, headers: headers, connectTimeout: .seconds(2), timeout: .seconds(5)))
        } catch {
            throw AWSError(.retryable, "container credentials endpoint \(url): \(error)")
        }
        guard response.status == 200, let json = AnyJSON.object(response.body),
              let key = json["AccessKeyId"] as? String, let secret = json["SecretAccessKey"] as? String else {
            throw AWSError(response.status >= 500 ? .retryable : .needsFix, "container credentials endpoint \(url) answered HTTP \(response.status) without credentials")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: json["Token"] as? String,
                              expiration: (json["Expiration"] as? String).flatMap(ISO8601.parse))
    }
}

/// `credential_process` from a profile: runs the command and reads its JSON (version 1).
public struct ProcessCredentialProvider: AWSCredentialProvider {
    public let command: String
    /// How long the command may take before it is killed: a hung helper must not hang the
    /// agent (botocore waits forever; an unsealer should not).
    public var timeout: Duration = .seconds(60)

    public init(command: String, timeout: Duration = .seconds(60)) {
        self.command = command
        self.timeout = timeout
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        let outcome: ProcessRunner.Outcome
        do {
            outcome = try await ProcessRunner.run("/bin/sh", ["-c", command], timeout: timeout)
        } catch {
            switch error.kind {
            case .timedOut: throw AWSError(.retryable, "credential_process gave no credentials within \(timeout) and was stopped")
            case .cannotStart, .outputTooLarge: throw AWSError(.needsFix, "credential_process: \(error)")
            }
        }
        guard outcome.status == 0, let json = AnyJSON.object(outcome.output),
              let key = json["AccessKeyId"] as? String, let secret = json["SecretAccessKey"] as? String else {
            throw AWSError(.needsFix, "credential_process exited \(outcome.status) without Version 1 JSON credentials")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: json["SessionToken"] as? String,
                              expiration: (json["Expiration"] as? String).flatMap(ISO8601.parse))
    }
}

/// Caches another provider's credentials and refreshes them before they expire (5 minutes
/// ahead, or at half their lifetime when that is shorter), so a long-running agent never
/// signs with expired keys. Between requests the secret key and session token are cloaked
/// (``CloakedText``): an agent caches instance-role credentials for hours.
public actor RefreshingCredentialProvider: AWSCredentialProvider {
    private let source: any AWSCredentialProvider
    private var cached: Cached?
    private var fetchedAt = Date.distantPast

    /// The key ID and expiry in the clear (they are in every request and log), the rest cloaked.
    private struct Cached {
        /// The credentials with the secret key and session token blanked.
        let withoutSecrets: AWSCredentials
        let secrets: CloakedText  // secret access key, a line break, the session token

        init(_ credentials: AWSCredentials) throws(SealKitError) {
            withoutSecrets = AWSCredentials(accessKeyID: credentials.accessKeyID, secretAccessKey: "", expiration: credentials.expiration)
            secrets = try CloakedText(credentials.secretAccessKey + "\n" + (credentials.sessionToken ?? ""))
        }

        func revealed() throws(SealKitError) -> AWSCredentials {
            let parts = try secrets.reveal().split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            var credentials = withoutSecrets
            credentials.secretAccessKey = String(parts[0])
            credentials.sessionToken = parts.count > 1 && !parts[1].isEmpty ? String(parts[1]) : nil
            return credentials
        }
    }

    public init(_ source: any AWSCredentialProvider) { self.source = source }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        if let cached, !needsRefresh(cached.withoutSecrets), let credentials = try? cached.revealed() { return credentials }
        do {
            let fresh = try await source.credentials()
            // Not cached if it cannot be cloaked (no memory for the page): asked again next time.
            cached = try? Cached(fresh)
            fetchedAt = Date()
            return fresh
        } catch {
            // Still-valid credentials beat none while the refresh endpoint is down.
            if let cached, !cached.withoutSecrets.expires(within: 30), let credentials = try? cached.revealed() { return credentials }
            throw error
        }
    }

    /// Forgets the cache (after the service said the token expired).
    public func invalidate() { cached = nil }

    private func needsRefresh(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        let lifetime = expiration.timeIntervalSince(fetchedAt)
        return credentials.expires(within: min(300, lifetime / 2))
    }
}

enum XMLText {
    /// The text of the first `<name>…</name>` element.
    static func first(_ name: String, in xml: String) -> String? {
        guard let open = xml.firstRange(of: "<\(name)>"), let close = xml[open.upperBound...].firstRange(of: "</\(name)>") else { return nil }
        // &amp; last, so "&amp;lt;" stays "&lt;".
        return String(xml[open.upperBound..<close.lowerBound])
            .replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"")
            .replacing("&amp;", with: "&")
    }
}

enum ISO8601 {
    static func parse(_ text: String) -> Date? {
        UTCTime.parseISO8601(text)
    }
}
