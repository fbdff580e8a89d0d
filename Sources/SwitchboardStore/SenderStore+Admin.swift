import Foundation
import Postgres
import SwitchboardCore

/// Changing senders and pools by hand: update, remove, import, list pools.
extension SenderStore {
    /// Changes a sender's rate, burst or enabled flag (nil leaves it). Returns false when the
    /// account has no such sender.
    public func updateSender(
        accountID: Int64, address: String, rate: Double?, burst: Double?, enabled: Bool?
    ) async throws -> Bool {
        if let rate { try SenderSpec.check(rate: rate) }
        if let burst { try SenderSpec.check(burst: burst) }
        return try await pool.query(
            """
            UPDATE switchboard.senders SET rate = coalesce(\(rate)::float8, rate), burst = coalesce(\(burst)::float8, burst),
                enabled = coalesce(\(enabled)::boolean, enabled)
            WHERE account_id = \(accountID) AND address = \(address)
            """
        ).affectedRows == 1
    }

    /// Removes a sender (and its pool memberships and sticky recipients). Messages keep their
    /// history. Returns false when the account has no such sender.
    public func removeSender(accountID: Int64, address: String) async throws -> Bool {
        try await pool.query(
            "DELETE FROM switchboard.senders WHERE account_id = \(accountID) AND address = \(address)"
        ).affectedRows == 1
    }

    /// Adds or updates all senders in one transaction (optionally into `poolName`): either every
    /// row is stored or none. Returns the number stored.
    public func importSenders(_ specs: [SenderSpec], accountID: Int64, poolName: String?) async throws -> Int {
        if let poolName { try JobSpec.validateName(poolName, field: "pool") }
        return try await pool.transaction { connection in
            var ids: [Int64] = []
            for spec in specs {
                ids.append(
                    try await connection.query(Self.upsert(spec, accountID: accountID))[0].decode(Int64.self, at: 0))
            }
            if let poolName {
                try await connection.query(
                    """
                    WITH pool AS (
                        INSERT INTO switchboard.pools (account_id, name) VALUES (\(accountID), \(poolName))
                        ON CONFLICT (account_id, name) DO UPDATE SET name = excluded.name RETURNING id
                    )
                    INSERT INTO switchboard.pool_senders (pool_id, sender_id)
                    SELECT pool.id, unnest(\(ids)::bigint[]) FROM pool ON CONFLICT DO NOTHING
                    """)
            }
            return ids.count
        }
    }

    public struct PoolSummary: Sendable, Equatable, Codable {
        public var account: String
        public var name: String
        public var sticky: Bool
        public var numbers: [String]
    }

    public func pools() async throws -> [PoolSummary] {
        try await pool.query(
            """
            SELECT a.name, p.name, p.sticky,
                   coalesce(array_agg(s.address ORDER BY s.address) FILTER (WHERE s.id IS NOT NULL), '{}')
            FROM switchboard.pools p JOIN switchboard.accounts a ON a.id = p.account_id
            LEFT JOIN switchboard.pool_senders ps ON ps.pool_id = p.id
            LEFT JOIN switchboard.senders s ON s.id = ps.sender_id
            GROUP BY a.name, p.id ORDER BY a.name, p.name
            """
        ).map {
            PoolSummary(
                account: try $0.decode(String.self, at: 0), name: try $0.decode(String.self, at: 1),
                sticky: try $0.decode(Bool.self, at: 2), numbers: try $0.decode([String].self, at: 3))
        }
    }

    /// Takes numbers out of a pool (the senders stay). Returns how many were in it.
    public func removeFromPool(accountID: Int64, poolName: String, addresses: [String]) async throws -> Int {
        try await pool.query(
            """
            DELETE FROM switchboard.pool_senders ps USING switchboard.pools p, switchboard.senders s
            WHERE ps.pool_id = p.id AND ps.sender_id = s.id AND p.account_id = \(accountID) AND p.name = \(poolName)
              AND s.address = ANY(\(addresses)::text[])
            """
        ).affectedRows
    }

    /// Deletes a pool (its senders stay). Jobs still naming it fail with a clear error.
    public func deletePool(accountID: Int64, poolName: String) async throws -> Bool {
        try await pool.query(
            "DELETE FROM switchboard.pools WHERE account_id = \(accountID) AND name = \(poolName)"
        ).affectedRows == 1
    }
}
