import HTTPServerKit
import Testing
@testable import VaultServer

/// The wrong-key limits, on instants of the monotonic clock: nothing in them reads the wall
/// clock, so stepping it (NTP, an operator, a VM resumed) changes nothing — the test below
/// would have seen `retry in 3601 s` from the wall-clock version after a step back of an hour.
@Suite("unseal rate limits")
struct UnsealGuardTests {
    let agent = Peer.unix(uid: 998, gid: 998, pid: 1)
    static func tcp(_ host: Int) -> Peer { .tcp("[IPv4]127.0.0.\(host)/127.0.0.\(host):50000") }

    @Test("a peer is blocked after five wrong keys, for 1, 2, 4 … 60 s of monotonic time; a right key clears it")
    func perPeer() {
        let t0 = ContinuousClock.now
        let guardian = UnsealGuard(now: t0)
        for _ in 0..<5 { #expect(guardian.retryAfter(agent, now: t0) == nil); guardian.recordFailure(agent, now: t0) }
        #expect(guardian.retryAfter(agent, now: t0) == 1)
        #expect(guardian.retryAfter(agent, now: t0 + .milliseconds(1001)) == nil)
        guardian.recordFailure(agent, now: t0 + .seconds(2))
        #expect(guardian.retryAfter(agent, now: t0 + .seconds(2)) == 2)
        for _ in 0..<10 { guardian.recordFailure(agent, now: t0 + .seconds(3)) }
        #expect(guardian.retryAfter(agent, now: t0 + .seconds(3)) == 60)
        guardian.recordSuccess(agent)
        #expect(guardian.retryAfter(agent, now: t0 + .seconds(3)) == nil)
    }

    @Test("TCP peers share 30 wrong keys a minute however many addresses they use; the unix socket's uid is never charged")
    func tcpWide() {
        let t0 = ContinuousClock.now
        let guardian = UnsealGuard(now: t0)
        var evaluated = 0
        for host in 2...251 {
            let peer = Self.tcp(host)
            if guardian.retryAfter(peer, now: t0) == nil { evaluated += 1; guardian.recordFailure(peer, now: t0) }
        }
        #expect(evaluated == 30)
        #expect(guardian.retryAfter(Self.tcp(252), now: t0) == 2)
        #expect(guardian.retryAfter(agent, now: t0) == nil)
        // The bucket refills at half a guess a second.
        #expect(guardian.retryAfter(Self.tcp(252), now: t0 + .seconds(2)) == nil)
    }
}
