import Foundation
import Synchronization

/// Slows down whoever keeps pushing wrong keys: after ``freeFailures`` consecutive failures a
/// peer (a uid on the Unix socket, an IP on TCP) must wait, doubling up to ``maximumDelay``.
/// A right key clears the record.
final class UnsealGuard: Sendable {
    static let freeFailures = 5
    static let maximumDelay: TimeInterval = 60

    private struct Record {
        var failures = 0
        var blockedUntil = Date.distantPast
    }
    private let records = Mutex<[String: Record]>([:])
    /// Wrong keys refused since start, for the metrics endpoint.
    let failuresTotal = Atomic<Int>(0)
    let rateLimitedTotal = Atomic<Int>(0)

    /// Seconds the peer must still wait, or nil when it may try.
    func retryAfter(_ peer: String, now: Date = Date()) -> Int? {
        records.withLock { records in
            guard let record = records[peer], record.blockedUntil > now else { return nil }
            rateLimitedTotal.add(1, ordering: .relaxed)
            return max(1, Int(record.blockedUntil.timeIntervalSince(now).rounded(.up)))
        }
    }

    func recordFailure(_ peer: String, now: Date = Date()) {
        failuresTotal.add(1, ordering: .relaxed)
        records.withLock { records in
            var record = records[peer] ?? Record()
            record.failures += 1
            if record.failures >= Self.freeFailures {
                let exponent = min(record.failures - Self.freeFailures, 6)
                record.blockedUntil = now.addingTimeInterval(min(Self.maximumDelay, pow(2, Double(exponent))))
            }
            records[peer] = record
            if records.count > 10_000 { records = records.filter { $0.value.blockedUntil > now } }
        }
    }

    func recordSuccess(_ peer: String) {
        _ = records.withLock { $0.removeValue(forKey: peer) }
    }
}
