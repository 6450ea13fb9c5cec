import LeanFoundation

/// The default credential chain: configuration → environment → web identity (IRSA) →
/// container (ECS, EKS Pod Identity) → shared files (profile, `credential_process`) → IMDS.
///
/// The first link that is *configured* is used, and its answers are cached and refreshed before
/// expiry; links that are not configured are skipped with the reason, which ``report`` keeps
/// for `unseal-agent doctor`.
public actor AWSCredentialChain: AWSCredentialProvider {
    public struct Link: Sendable {
        public let name: String
        /// Why the link was skipped, or nil when it was chosen.
        public let skipped: String?
    }

    private var chosen: RefreshingCredentialProvider?
    public private(set) var report: [Link] = []
    private let environment: [String: String]
    private let staticCredentials: AWSCredentials?
    private let region: String
    public let imds: IMDSClient

    public init(staticCredentials: AWSCredentials? = nil, region: String, environment: [String: String], imds: IMDSClient) {
        self.staticCredentials = staticCredentials
        self.region = region
        self.environment = environment
        self.imds = imds
    }

    public func credentials() async throws(AWSError) -> AWSCredentials {
        if chosen == nil { chosen = RefreshingCredentialProvider(try resolve()) }
        return try await chosen!.credentials()
    }

    /// The name of the chosen link (after the first ``credentials()``).
    public var chosenLink: String? { report.last(where: { $0.skipped == nil })?.name }

    private func resolve() throws(AWSError) -> any AWSCredentialProvider {
        report = []
        if let staticCredentials {
            report.append(Link(name: "config (access_key/secret_key)", skipped: nil))
            return StaticCredentialProvider(staticCredentials)
        }
        report.append(Link(name: "config", skipped: "no access_key/secret_key in the seal block"))

        if let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"], !key.isEmpty, !secret.isEmpty {
            report.append(Link(name: "environment (AWS_ACCESS_KEY_ID)", skipped: nil))
            return StaticCredentialProvider(AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"]))
        }
        report.append(Link(name: "environment", skipped: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set"))

        if let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], let role = environment["AWS_ROLE_ARN"] {
            report.append(Link(name: "web identity (\(role))", skipped: nil))
            let sts = environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_STS_ENDPOINT"]
                ?? "https://sts.\(region).\(region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com")"
            return WebIdentityProvider(tokenFile: tokenFile, roleARN: role,
                                       sessionName: environment["AWS_ROLE_SESSION_NAME"] ?? "unseal-agent-\(ProcessInfo.processInfo.processIdentifier)",
                                       stsEndpoint: sts.hasSuffix("/") ? String(sts.dropLast()) : sts)
        }
        report.append(Link(name: "web identity", skipped: "AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN not set"))

        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            report.append(Link(name: "container (ECS)", skipped: nil))
            return ContainerCredentialProvider(url: "http://169.254.170.2" + relative, tokenFile: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], token: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        }
        if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] {
            report.append(Link(name: "container (EKS Pod Identity / full URI)", skipped: nil))
            return ContainerCredentialProvider(url: full, tokenFile: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], token: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        }
        report.append(Link(name: "container", skipped: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI not set"))

        // An empty variable counts as unset (as the AWS CLI treats it).
        let namedProfile = [environment["AWS_PROFILE"], environment["AWS_DEFAULT_PROFILE"]].compactMap { $0 }.first { !$0.isEmpty }
        let profile = namedProfile ?? "default"
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
        let fromCredentials = INIFile.section(profile, in: credentialsFile)
        let fromConfig = INIFile.section(profile == "default" ? "default" : "profile \(profile)", in: configFile)
        let settings = (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { $1 }
        if let key = settings["aws_access_key_id"], let secret = settings["aws_secret_access_key"] {
            report.append(Link(name: "shared files (profile \(profile))", skipped: nil))
            return StaticCredentialProvider(AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: settings["aws_session_token"]))
        }
        if let command = settings["credential_process"] {
            report.append(Link(name: "shared files (profile \(profile), credential_process)", skipped: nil))
            return ProcessCredentialProvider(command: command)
        }
        if namedProfile != nil {
            throw AWSError(.needsFix, "AWS_PROFILE=\(profile) has no keys or credential_process in \(credentialsFile) or \(configFile)")
        }
        report.append(Link(name: "shared files", skipped: "no profile \(profile) with keys in \(credentialsFile) or \(configFile)"))

        report.append(Link(name: "instance metadata (IMDS)", skipped: nil))
        return IMDSCredentialProvider(client: imds)
    }
}

/// Just enough INI for `~/.aws/credentials` and `~/.aws/config`.
enum INIFile {
    static func section(_ name: String, in path: String) -> [String: String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var current: String?
        var values: [String: String]?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmed
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmed
                if current == name && values == nil { values = [:] }
                continue
            }
            guard current == name, let equals = line.firstIndex(of: "=") else { continue }
            values?[line[..<equals].trimmed.lowercased()] = line[line.index(after: equals)...].trimmed
        }
        return values
    }
}
