import Foundation
import Postgres
import SwitchboardCore

extension SenderStore {
    /// Books `segments` on the best sender of a pool for `recipient` (sticky, country, area code,
    /// least booked). A batch of one; see `reserve(batch:horizon:)`.
    public func reserve(
        poolID: Int64, recipient: PhoneNumber, capability: String, segments: Int, horizon: Duration,
        recipientKey: String
    ) async throws -> ReservationResult {
        let request = PoolSelection.Request(
            pool: poolID, recipient: recipientKey, countryCode: recipient.countryCode, areaCode: recipient.areaCode,
            capability: capability, segments: segments)
        return try await reserve(batch: [request], horizon: horizon)[0]
    }

    /// Books slots for many messages in one transaction, in order (later messages see earlier
    /// bookings): one answer per request. Reservations on a pool take turns (`switchboard.lock_pool`,
    /// then the pool's sender rows are locked and read), so each choice sees every booking made
    /// before it on any host; the choice itself is `PoolSelection`'s.
    public func reserve(batch requests: [PoolSelection.Request], horizon: Duration) async throws
        -> [ReservationResult]
    {
        guard !requests.isEmpty else { return [] }
        let poolIDs = Array(Set(requests.map(\.pool))).sorted()
        return try await pool.transaction { connection in
            try await connection.query(
                """
                SELECT switchboard.lock_pool(p) FROM (SELECT unnest(\(poolIDs)::bigint[]) AS p ORDER BY 1) AS pools
                """)
            // Row locks too: a send from one of these numbers by its From (`reserve_sender`) books
            // the same rows without taking a pool's turn.
            let rows = try await connection.query(
                """
                -- One reading of the clock now (not the transaction's start: the pool's turn may have been
                -- waited for), materialised so every row sees the same instant.
                WITH t AS MATERIALIZED (SELECT clock_timestamp() AS now)
                SELECT ps.pool_id, s.id, s.address, greatest(s.tat, t.now), s.rate, s.burst, s.capabilities,
                       s.country_code, s.area_code, p.sticky, t.now
                FROM switchboard.pools p
                JOIN switchboard.pool_senders ps ON ps.pool_id = p.id
                JOIN switchboard.senders s ON s.id = ps.sender_id
                CROSS JOIN t
                WHERE p.id = ANY(\(poolIDs)::bigint[]) AND s.enabled
                ORDER BY s.id
                FOR UPDATE OF s
                """)
            guard let now = try rows.first?.decode(Date.self, at: 10) else {
                return requests.map { _ in .noSender }
            }
            var senders: [PoolSelection.Sender] = []
            var members: [Int64: [Int64]] = [:]
            var stickyPools: Set<Int64> = []
            for row in rows {
                let poolID = try row.decode(Int64.self, at: 0)
                let sender = PoolSelection.Sender(
                    id: try row.decode(Int64.self, at: 1), address: try row.decode(String.self, at: 2),
                    bookedUntil: try row.decode(Date.self, at: 3), rate: try row.decode(Double.self, at: 4),
                    burst: try row.decode(Double.self, at: 5), capabilities: Set(try row.decode([String].self, at: 6)),
                    countryCode: try row.decode(Int?.self, at: 7), areaCode: try row.decode(String?.self, at: 8))
                senders.append(sender)
                members[poolID, default: []].append(sender.id)
                if try row.decode(Bool.self, at: 9) { stickyPools.insert(poolID) }
            }
            var sticky: [PoolSelection.StickyKey: Int64] = [:]
            let stickyRequests = requests.filter { stickyPools.contains($0.pool) }
            if !stickyRequests.isEmpty {
                let kept = try await connection.query(
                    """
                    SELECT st.pool_id, st.recipient, st.sender_id FROM switchboard.sticky_senders st
                    JOIN unnest(\(stickyRequests.map(\.pool))::bigint[], \(stickyRequests.map(\.recipient))::text[])
                        AS r (pool_id, recipient) ON st.pool_id = r.pool_id AND st.recipient = r.recipient
                    """)
                for row in kept {
                    let key = PoolSelection.StickyKey(
                        pool: try row.decode(Int64.self, at: 0), recipient: try row.decode(String.self, at: 1))
                    sticky[key] = try row.decode(Int64.self, at: 2)
                }
            }
            var selection = PoolSelection(
                senders: senders, members: members, stickyPools: stickyPools, sticky: sticky, now: now,
                horizon: horizon.seconds)
            let results = requests.map { request -> ReservationResult in
                switch selection.book(request) {
                case .reserved(let senderID, let address, let slot, let rate):
                    return .reserved(
                        SenderReservation(senderID: senderID, address: address, slot: slot, rate: rate, bookedAt: now))
                case .saturated(let retryAt): return .saturated(retryAt: retryAt, bookedAt: now)
                case .noSender: return .noSender
                }
            }
            try await write(selection, on: connection)
            return results
        }
    }

    /// The new booking times and sticky senders a selection made.
    private func write(_ selection: PoolSelection, on connection: PostgresConnection) async throws {
        let booked = selection.booked.sorted()
        if !booked.isEmpty {
            try await connection.query(
                """
                UPDATE switchboard.senders s SET tat = v.tat
                FROM unnest(\(booked)::bigint[], \(booked.map { selection.senders[$0]!.bookedUntil })::timestamptz[])
                    AS v (id, tat)
                WHERE s.id = v.id
                """)
        }
        let newSticky = selection.newSticky.sorted { ($0.key.pool, $0.key.recipient) < ($1.key.pool, $1.key.recipient) }
        if !newSticky.isEmpty {
            try await connection.query(
                """
                INSERT INTO switchboard.sticky_senders (pool_id, recipient, sender_id)
                SELECT * FROM unnest(\(newSticky.map(\.key.pool))::bigint[], \(newSticky.map(\.key.recipient))::text[],
                    \(newSticky.map(\.value))::bigint[])
                ON CONFLICT (pool_id, recipient) DO UPDATE SET sender_id = excluded.sender_id, updated_at = now()
                """)
        }
    }
}
