import Foundation
import Postgres
import SwitchboardCore

/// US A2P 10DLC pacing (migration 0020): registered brands and campaigns with their per-carrier
/// budgets, the published classes they take their numbers from, the cache of recipients'
/// carriers, and the booking of a slot in a {campaign × carrier} budget counted against the
/// {brand × carrier × day} cap.
public struct CarrierStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    // MARK: booking

    /// A {campaign × carrier} booking.
    public enum Booking: Sendable, Equatable {
        /// The send may go out at `slot` (the database's clock read `bookedAt` when it booked).
        case reserved(slot: Date, bookedAt: Date)
        /// Nothing booked: a cap holds the send back until `retryAt` — `perMinute` (the budget
        /// is booked beyond the horizon) or `perDay` (the brand's daily cap for that day is spent;
        /// `retryAt` is the next US Pacific midnight).
        case held(retryAt: Date, by: CarrierCap, bookedAt: Date)
        /// The campaign is gone (deleted meanwhile): send without carrier pacing.
        case noCampaign
    }

    public enum CarrierCap: String, Sendable, Codable {
        case perMinute = "per_minute"
        case perDay = "per_day"
    }

    /// Books `units` segments to `carrier` under the registered campaign: see
    /// `switchboard.reserve_carrier_slot` (a send must go out within `tolerance` seconds of its
    /// slot for every `window` — a minute, as carriers meter — to stay within the budget).
    public func reserve(
        campaignID: Int64, carrier: Carrier, units: Int, horizon: Duration, tolerance: Double,
        window: Duration = .seconds(60)
    ) async throws -> Booking {
        guard
            let row = try await pool.query(
                """
                SELECT slot, retry_at, held_by, now FROM switchboard.reserve_carrier_slot(
                    \(campaignID), \(carrier.rawValue), \(Double(units)), \(horizon.seconds), \(tolerance),
                    \(window.seconds))
                """
            ).first
        else { return .noCampaign }
        let bookedAt = try row.decode(Date.self, at: 3)
        if let slot = try row.decode(Date?.self, at: 0) { return .reserved(slot: slot, bookedAt: bookedAt) }
        let cap = CarrierCap(rawValue: try row.decode(String.self, at: 2)) ?? .perMinute
        return .held(retryAt: try row.decode(Date.self, at: 1), by: cap, bookedAt: bookedAt)
    }

    /// The registered campaign a send runs under: the pool's for a pooled send, else the From
    /// number's (nil: not registered, no carrier pacing).
    public func pacedCampaign(accountID: Int64, pool: String?, from: String?) async throws -> Int64? {
        try await self.pool.query(
            """
            SELECT coalesce(
                (SELECT ten_dlc_campaign_id FROM switchboard.pools WHERE account_id = \(accountID) AND name = \(pool)),
                (SELECT ten_dlc_campaign_id FROM switchboard.senders WHERE account_id = \(accountID) AND address = \(from)))
            """
        )[0].decode(Int64?.self, at: 0)
    }

    // MARK: the carrier cache

    /// Cached carriers of these numbers, looked up less than `maxAge` ago.
    public func cachedCarriers(_ phones: [String], maxAge: Duration) async throws -> [String: Carrier] {
        guard !phones.isEmpty else { return [:] }
        var carriers: [String: Carrier] = [:]
        for row in try await pool.query(
            """
            SELECT phone, carrier FROM switchboard.carrier_lookups
            WHERE phone = ANY(\(phones)::text[]) AND looked_up_at > now() - make_interval(secs => \(maxAge.seconds))
            """)
        {
            carriers[try row.decode(String.self, at: 0)] = Carrier(rawValue: try row.decode(String.self, at: 1))
        }
        return carriers
    }

    /// What Lookup said about a number.
    public struct LookupRecord: Sendable, Equatable {
        public var phone: String
        public var carrier: Carrier
        public var carrierName: String?
        public var lineType: String?
        public var mobileCountryCode: String?
        public var mobileNetworkCode: String?

        public init(
            phone: String, carrier: Carrier, carrierName: String?, lineType: String?, mobileCountryCode: String?,
            mobileNetworkCode: String?
        ) {
            self.phone = phone
            self.carrier = carrier
            self.carrierName = carrierName
            self.lineType = lineType
            self.mobileCountryCode = mobileCountryCode
            self.mobileNetworkCode = mobileNetworkCode
        }
    }

    /// Removes what pacing no longer needs: daily counts of days before yesterday (US Pacific)
    /// and, at most `limit` at a time, cached carriers older than `maxAge` (a number messaged
    /// again is looked up again anyway). Returns how many cached carriers went.
    @discardableResult
    public func prune(lookupsOlderThan maxAge: Duration, limit: Int = 10_000) async throws -> Int {
        try await pool.query(
            """
            DELETE FROM switchboard.brand_daily_counts
            WHERE day < (now() AT TIME ZONE 'America/Los_Angeles')::date - 1
            """)
        return try await pool.query(
            """
            DELETE FROM switchboard.carrier_lookups WHERE phone IN (
                SELECT phone FROM switchboard.carrier_lookups
                WHERE looked_up_at < now() - make_interval(secs => \(maxAge.seconds)) LIMIT \(limit))
            """
        ).affectedRows
    }

    public func store(_ lookup: LookupRecord) async throws {
        try await pool.query(
            """
            INSERT INTO switchboard.carrier_lookups (phone, carrier, carrier_name, line_type, mcc, mnc)
            VALUES (\(lookup.phone), \(lookup.carrier.rawValue), \(lookup.carrierName), \(lookup.lineType),
                    \(lookup.mobileCountryCode), \(lookup.mobileNetworkCode))
            ON CONFLICT (phone) DO UPDATE SET carrier = excluded.carrier, carrier_name = excluded.carrier_name,
                line_type = excluded.line_type, mcc = excluded.mcc, mnc = excluded.mnc, looked_up_at = now()
            """)
    }
}
