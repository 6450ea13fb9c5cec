import Foundation
import HTTPServerKit
import HTTPTransport
import NIOHTTP1
import VaultCore
import VaultWire

/// High availability on the API: what a standby answers itself, and how it hands the rest to
/// the active node — forwarded to its `api_addr`, or `307` to it when the client sends
/// `X-Vault-No-Request-Forwarding` (Vault's header), so `bao`/hvac pointed at any node work.
extension VaultAPI {
    /// What every node answers itself, active or not: seal state (each node is unsealed by its
    /// own agent), health and leadership, metrics.
    static let servedByEveryNode: Set<String> = [
        "/v1/sys/seal-status", "/v1/sys/init", "/v1/sys/unseal", "/v1/sys/health", "/v1/sys/leader",
        "/v1/sys/ha-status", "/v1/sys/metrics", "/api/v1/unseal",
    ]
    /// Marks a forwarded request: a node that is not active either answers 503 rather than
    /// forwarding it again (two standbys with stale views must not bounce it between them).
    static let forwardedHeader = "X-Vaultd-Forwarded"
    /// On a refusal of a forwarded request: the target is not active (any more).
    static let notActiveHeader = "X-Vaultd-Not-Active"
    /// How long a standby waits for the active node's answer. An active node that is paused
    /// never answers; its lease runs out in seconds, and the client's retry reaches the next one.
    static let forwardTimeout = Duration.seconds(10)

    func answerAsStandby(_ request: HTTPRequest) async -> HTTPResponse {
        if request.headers.contains(name: Self.forwardedHeader) {
            var refusal = JSONResponse.error(VaultError(.notActive, "this node received a forwarded request but is not the active node (leadership is changing); retry"))
            refusal.headers.replaceOrAdd(name: Self.notActiveHeader, value: "1")
            return refusal
        }
        // What this node last read may be a term old: read again when it names no live leader,
        // and once more when the leader it names does not answer.
        var leader = await currentLeader(refresh: false)
        for attempt in 0..<2 {
            guard let known = leader else { break }
            let target = known.address + request.uri
            if request.headers.contains(name: "X-Vault-No-Request-Forwarding") {
                return HTTPResponse(status: .temporaryRedirect, headers: ["Location": target, "Content-Length": "0"])
            }
            do {
                let answer = try await forward(request, to: target)
                // The node it knew has stopped leading since: ask storage again, once.
                guard answer.headers.contains(name: Self.notActiveHeader), attempt == 0 else { return answer }
                leader = await currentLeader(refresh: true)
                continue
            } catch {
                if attempt == 1 {
                    return JSONResponse.error(VaultError(.notActive, "this node is a standby and could not forward to the active node at \(known.address): \(error)"))
                }
                leader = await currentLeader(refresh: true)
            }
        }
        return JSONResponse.error(VaultError(.notActive, "this node is a standby and no active node holds the lease now (a failover is under way, or no node is unsealed); retry shortly"))
    }

    /// The active node, if another node holds a valid lease.
    private func currentLeader(refresh: Bool) async -> LeaderRecord? {
        func usable(_ record: LeaderRecord?) -> LeaderRecord? {
            guard let record, record.isCurrent, record.nodeID != leadership.storage?.nodeID else { return nil }
            return record
        }
        if !refresh, let known = usable(leadership.leader) { return known }
        if let storage = leadership.storage, let record = try? await storage.leader() {
            leadership.learn(record)
            return usable(record)
        }
        return nil
    }

    private func forward(_ request: HTTPRequest, to target: String) async throws -> HTTPResponse {
        var headers = request.headers.map { ($0.name, $0.value) }.filter { !["host", "connection", "content-length", "transfer-encoding"].contains($0.0.lowercased()) }
        headers.append((Self.forwardedHeader, "1"))
        let response = try await HTTPClient.send(
            HTTPClientRequest(method: request.method.rawValue, url: target, headers: headers,
                              body: request.body.isEmpty ? nil : request.body, connectTimeout: .seconds(2), timeout: Self.forwardTimeout,
                              caBundlePath: forwardingCABundle),
            proxies: ProxyEnvironment([:])
        )
        var answer = HTTPHeaders()
        for (name, value) in response.headers where !["connection", "content-length", "transfer-encoding", "keep-alive"].contains(name) {
            answer.add(name: name, value: value)
        }
        return HTTPResponse(status: HTTPResponseStatus(statusCode: response.status), headers: answer, body: response.body)
    }

    mutating func addHARoutes() {
        let core = self.core
        let leadership = self.leadership
        let logger = self.logger
        route([.GET], "/v1/sys/leader") { _, _ in
            let own = leadership.activeSince
            let leader = leadership.leader
            return JSONResponse.encode(LeaderResponse(
                haEnabled: leadership.isEnabled, isSelf: own != nil,
                activeTime: Self.rfc3339(own ?? (leader?.isCurrent == true ? leader?.activeSince : nil)),
                leaderAddress: own != nil ? leadership.address : (leader?.isCurrent == true ? leader?.address ?? "" : ""),
                leaderClusterAddress: "", performanceStandby: false, performanceStandbyLastRemoteWAL: 0
            ))
        }
        route([.GET], "/v1/sys/ha-status") { _, _ in
            guard leadership.isEnabled else {
                throw VaultError(.badRequest, "high availability is not enabled: storage \"postgresql\" with ha_enabled = true")
            }
            var nodes = [HAStatusResponse.Node]()
            let host = ProcessInfo.processInfo.hostName
            if let leader = leadership.leader, leader.isCurrent, leader.nodeID != leadership.storage?.nodeID {
                nodes.append(.init(hostname: "", apiAddress: leader.address, activeNode: true, version: VaultBuild.version))
            }
            nodes.append(.init(hostname: host, apiAddress: leadership.address, activeNode: leadership.isActive, version: VaultBuild.version))
            return JSONResponse.encode(HAStatusResponse(nodes: nodes))
        }
        route([.PUT, .POST], "/v1/sys/step-down") { request, _ in
            let token = try await core.authenticate(Self.token(of: request))
            guard token.isRoot else { throw VaultError(.permissionDenied, "permission denied: step-down needs the root token") }
            guard leadership.isEnabled else {
                throw VaultError(.badRequest, "high availability is not enabled: there is no other node to step down to")
            }
            // A standby never gets here: the request was forwarded to the active node.
            leadership.pause(for: .seconds(2))
            await leadership.stepDown(core: core, reason: "sys/step-down", logger: logger)
            return JSONResponse.noContent()
        }
    }

    static func rfc3339(_ date: Date?) -> String {
        guard let date else { return "0001-01-01T00:00:00Z" }
        return date.formatted(.iso8601)
    }
}
