import Foundation
import PostgresNIO
import VaultCore

/// The leadership lease: one row (`ha_key = 'leader'`) in `ha_table`. Every comparison uses the
/// database's clock (`clock_timestamp()`), so the nodes' clocks may disagree freely. A node
/// takes the row only once `valid_until` has passed, and each taking adds one to `epoch`.
extension PostgresStorage: SharedStorage {
    public func acquireLeadership(advertising address: String) async throws -> LeadershipTerm? {
        try await run(deadline: settings.leaseDuration) { [self] in
            let rows = try await client.query("""
                INSERT INTO \(unescaped: haTable) AS lease (ha_key, ha_identity, ha_value, epoch, active_since, valid_until)
                VALUES ('leader', \(nodeID), \(address), 1, clock_timestamp(), clock_timestamp() + make_interval(secs => \(leaseSeconds)))
                ON CONFLICT (ha_key) DO UPDATE SET
                    ha_identity = EXCLUDED.ha_identity, ha_value = EXCLUDED.ha_value, epoch = lease.epoch + 1,
                    active_since = EXCLUDED.active_since, valid_until = EXCLUDED.valid_until
                WHERE lease.valid_until < clock_timestamp()
                RETURNING epoch
                """, logger: logger)
            for try await epoch in rows.decode(Int64.self) {
                let term = LeadershipTerm(epoch: epoch)
                heldTerm.withLock { $0 = term }
                return term
            }
            return nil
        }
    }

    public func renewLeadership(_ term: LeadershipTerm) async throws -> Bool {
        let renewed = try await run(deadline: settings.leaseDuration) { [self] in
            let rows = try await client.query("""
                UPDATE \(unescaped: haTable) SET valid_until = clock_timestamp() + make_interval(secs => \(leaseSeconds))
                WHERE ha_key = 'leader' AND ha_identity = \(nodeID) AND epoch = \(term.epoch) AND valid_until > clock_timestamp()
                RETURNING epoch
                """, logger: logger)
            var found = false
            for try await _ in rows.decode(Int64.self) { found = true }
            return found
        }
        if !renewed { forgetLeadership() }
        return renewed
    }

    public func releaseLeadership(_ term: LeadershipTerm) async {
        // Writes stop first; then the row says the lease ran out, so a standby takes it at its
        // next attempt instead of after the whole lease.
        forgetLeadership()
        _ = try? await run(deadline: settings.leaseDuration) { [self] in
            try await client.query("""
                UPDATE \(unescaped: haTable) SET valid_until = clock_timestamp() - interval '1 millisecond'
                WHERE ha_key = 'leader' AND ha_identity = \(nodeID) AND epoch = \(term.epoch)
                """, logger: logger)
        }
    }

    public func forgetLeadership() {
        heldTerm.withLock { $0 = nil }
    }

    public func leader() async throws -> LeaderRecord? {
        try await run(deadline: settings.leaseDuration) { [self] in
            let rows = try await client.query("""
                SELECT ha_identity, ha_value, epoch, active_since, valid_until > clock_timestamp()
                FROM \(unescaped: haTable) WHERE ha_key = 'leader'
                """, logger: logger)
            for try await (identity, address, epoch, since, current) in rows.decode((String, String, Int64, Date, Bool).self) {
                return LeaderRecord(nodeID: identity, address: address, epoch: epoch, activeSince: since, isCurrent: current)
            }
            return nil
        }
    }

    private var leaseSeconds: Double {
        let parts = settings.leaseDuration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
