import Foundation

/// What the server knows of a request, raw: the token and body in the clear. Never written as
/// is — ``AuditEntry`` hashes what is secret with each device's key.
public struct AuditRequestFacts: Sendable {
    /// The token's public facts, when the token is a valid one.
    public struct Caller: Sendable {
        public var accessor: String?
        public var displayName: String
        public var policies: [String]
        public init(accessor: String?, displayName: String, policies: [String]) {
            self.accessor = accessor
            self.displayName = displayName
            self.policies = policies
        }
    }

    public var id: String
    /// Vault's word: `read`, `list`, `update`, `delete`.
    public var operation: String
    /// The path without its leading slash and without `v1/` (`sys/audit/file`, `api/v1/vaults`).
    public var path: String
    public var token: String?
    public var caller: Caller?
    /// The body, or the query of a read, as sent.
    public var body: [UInt8]
    public var query: [String: String]
    /// `127.0.0.1` for TCP; `unix` for the socket, with the peer's uid and pid.
    public var remoteAddress: String
    public var remotePort: Int?
    public var peerUID: UInt32?
    public var peerPID: Int32?

    public init(id: String, operation: String, path: String, token: String?, caller: Caller?, body: [UInt8], query: [String: String],
                remoteAddress: String, remotePort: Int? = nil, peerUID: UInt32? = nil, peerPID: Int32? = nil) {
        self.id = id
        self.operation = operation
        self.path = path
        self.token = token
        self.caller = caller
        self.body = body
        self.query = query
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.peerUID = peerUID
        self.peerPID = peerPID
    }
}

/// What the server answered, raw.
public struct AuditResponseFacts: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// The answer's error messages (`errors` of a 4xx/5xx): logged as they are — vaultd's
    /// errors never hold a secret — so the log says why a request failed.
    public var errors: [String]

    public init(status: Int, body: [UInt8], errors: [String]) {
        self.status = status
        self.body = body
        self.errors = errors
    }
}

/// One line of the audit log, in Vault's shape: `type` `request` before the request runs,
/// `response` after, the two joined by `request.id`. Tokens, accessors and every string or
/// number of a body are HMACs under the device's key.
public struct AuditEntry: Encodable, Sendable {
    public struct Auth: Encodable, Sendable {
        var clientToken: String
        var accessor: String?
        var displayName: String?
        var policies: [String]?
        var tokenType: String?
        enum CodingKeys: String, CodingKey {
            case clientToken = "client_token", accessor, policies
            case displayName = "display_name", tokenType = "token_type"
        }
    }

    public struct Request: Encodable, Sendable {
        var id: String
        var operation: String
        var clientToken: String?
        var clientTokenAccessor: String?
        var path: String
        var data: AuditValue?
        var remoteAddress: String
        var remotePort: Int?
        var peerUID: UInt32?
        var peerPID: Int32?
        enum CodingKeys: String, CodingKey {
            case id, operation, path, data
            case clientToken = "client_token", clientTokenAccessor = "client_token_accessor"
            case remoteAddress = "remote_address", remotePort = "remote_port", peerUID = "peer_uid", peerPID = "peer_pid"
        }
    }

    public struct Response: Encodable, Sendable {
        var statusCode: Int
        var data: AuditValue?
        enum CodingKeys: String, CodingKey {
            case statusCode = "status_code", data
        }
    }

    var time: String
    var type: String
    var auth: Auth?
    var request: Request
    var response: Response?
    var error: String?

    /// The entry written before the request runs.
    public static func request(_ facts: AuditRequestFacts, at time: Date, hasher: AuditHasher, hashAccessor: Bool) -> AuditEntry {
        let (auth, request) = describe(facts, hasher: hasher, hashAccessor: hashAccessor)
        return AuditEntry(time: timestamp(time), type: "request", auth: auth, request: request)
    }

    /// The entry written after it, before the answer is sent.
    public static func response(_ facts: AuditRequestFacts, _ answer: AuditResponseFacts, at time: Date, hasher: AuditHasher, hashAccessor: Bool) -> AuditEntry {
        let (auth, request) = describe(facts, hasher: hasher, hashAccessor: hashAccessor)
        var data: AuditValue?
        if answer.status < 400, !answer.body.isEmpty {
            // JSON is hashed value by value; anything else (a snapshot) as one value.
            data = (AuditValue(json: answer.body) ?? .string(String(decoding: answer.body, as: UTF8.self))).hashed(by: hasher)
        }
        return AuditEntry(
            time: timestamp(time), type: "response", auth: auth, request: request,
            response: Response(statusCode: answer.status, data: data),
            error: answer.errors.isEmpty ? nil : answer.errors.joined(separator: "; ")
        )
    }

    private static func describe(_ facts: AuditRequestFacts, hasher: AuditHasher, hashAccessor: Bool) -> (Auth?, Request) {
        let token = facts.token.map(hasher.hash)
        let accessor = facts.caller?.accessor.map { hashAccessor ? hasher.hash($0) : $0 }
        let auth = token.map {
            Auth(clientToken: $0, accessor: accessor, displayName: facts.caller?.displayName, policies: facts.caller?.policies,
                 tokenType: facts.caller == nil ? nil : "service")
        }
        var data: AuditValue?
        if !facts.body.isEmpty {
            data = (AuditValue(json: facts.body) ?? .string(String(decoding: facts.body, as: UTF8.self))).hashed(by: hasher)
        } else if !facts.query.isEmpty {
            data = AuditValue.object(facts.query.mapValues { .string($0) }).hashed(by: hasher)
        }
        let request = Request(
            id: facts.id, operation: facts.operation, clientToken: token, clientTokenAccessor: accessor, path: facts.path,
            data: data, remoteAddress: facts.remoteAddress, remotePort: facts.remotePort, peerUID: facts.peerUID, peerPID: facts.peerPID
        )
        return (auth, request)
    }

    /// RFC 3339 in UTC with milliseconds, as Vault writes `time`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The line: compact JSON with sorted keys, then a newline.
    public func line(prefix: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(prefix.utf8) + Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}
