import Foundation
import Postgres
import SwitchboardCore

/// The A2P 10DLC registrations a user configures (`switchboard a2p`), and what `status` shows.
extension CarrierStore {
    public struct TenDLCClass: Sendable, Equatable, Codable {
        public var name: String
        public var description: String
        public var perCarrierPerMinute: Int
        public var minorCarrierPerMinute: Int
        public var tmobilePerDay: Int?
    }

    public func classes() async throws -> [TenDLCClass] {
        try await pool.query(
            """
            SELECT class, description, per_carrier_per_minute, minor_carrier_per_minute, tmobile_per_day
            FROM switchboard.ten_dlc_classes ORDER BY per_carrier_per_minute DESC, class
            """
        ).map {
            TenDLCClass(
                name: try $0.decode(String.self, at: 0), description: try $0.decode(String.self, at: 1),
                perCarrierPerMinute: try $0.decode(Int.self, at: 2),
                minorCarrierPerMinute: try $0.decode(Int.self, at: 3),
                tmobilePerDay: try $0.decode(Int?.self, at: 4))
        }
    }

    /// A class by name; the error names the field and the classes there are.
    func tenDLCClass(_ name: String, field: String) async throws -> TenDLCClass {
        let all = try await classes()
        guard let found = all.first(where: { $0.name == name }) else {
            throw InputError(
                field: field,
                problem:
                    "no 10DLC class '\(name)' (one of \(all.map(\.name).joined(separator: ", ")); see `switchboard a2p classes`)"
            )
        }
        return found
    }

    /// Creates or updates a brand. Its T-Mobile daily cap is `tmobilePerDay`, else its class's
    /// (nil with neither: no daily cap).
    public func saveBrand(accountID: Int64, name: String, className: String?, tmobilePerDay: Int?) async throws {
        try JobSpec.validateName(name, field: "name")
        if let tmobilePerDay, tmobilePerDay < 1 {
            throw InputError(field: "tmobile-per-day", problem: "\(tmobilePerDay) must be at least 1")
        }
        var cap = tmobilePerDay
        if cap == nil, let className { cap = try await tenDLCClass(className, field: "class").tmobilePerDay }
        try await pool.query(
            """
            INSERT INTO switchboard.brands (account_id, name, tmobile_per_day) VALUES (\(accountID), \(name), \(cap))
            ON CONFLICT (account_id, name) DO UPDATE SET tmobile_per_day = excluded.tmobile_per_day
            """)
    }

    /// Creates or updates a registered campaign of a brand: its per-carrier budgets are the
    /// ones given, else its class's.
    public func saveCampaign(
        accountID: Int64, brand: String, name: String, className: String?, perCarrierPerMinute: Int?,
        minorCarrierPerMinute: Int?
    ) async throws {
        try JobSpec.validateName(name, field: "name")
        for (field, value) in [("per-minute", perCarrierPerMinute), ("minor-per-minute", minorCarrierPerMinute)] {
            if let value, value < 1 { throw InputError(field: field, problem: "\(value) must be at least 1") }
        }
        var known: TenDLCClass?
        if let className { known = try await tenDLCClass(className, field: "class") }
        guard let perMinute = perCarrierPerMinute ?? known?.perCarrierPerMinute else {
            throw InputError(field: "per-minute", problem: "give the campaign's budget per carrier, or a --class")
        }
        let minor = minorCarrierPerMinute ?? known?.minorCarrierPerMinute ?? min(perMinute, 600)
        let saved = try await pool.query(
            """
            INSERT INTO switchboard.ten_dlc_campaigns
                (brand_id, name, class, per_carrier_per_minute, minor_carrier_per_minute)
            SELECT b.id, \(name), \(className), \(perMinute), \(minor) FROM switchboard.brands b
            WHERE b.account_id = \(accountID) AND b.name = \(brand)
            ON CONFLICT (brand_id, name) DO UPDATE SET class = excluded.class,
                per_carrier_per_minute = excluded.per_carrier_per_minute,
                minor_carrier_per_minute = excluded.minor_carrier_per_minute
            RETURNING id
            """)
        guard !saved.isEmpty else {
            throw InputError(field: "brand", problem: "no brand '\(brand)' (add it with `switchboard a2p brand`)")
        }
    }

    /// Assigns a pool or a number (direct sends From it) to a registered campaign (`campaign`
    /// nil: takes it off carrier pacing). Returns false when the pool or number does not exist.
    public func assign(
        accountID: Int64, brand: String, campaign: String?, pool poolName: String?, number: String?
    ) async throws -> Bool {
        var campaignID: Int64?
        if let campaign {
            campaignID = try await pool.query(
                """
                SELECT c.id FROM switchboard.ten_dlc_campaigns c JOIN switchboard.brands b ON b.id = c.brand_id
                WHERE b.account_id = \(accountID) AND b.name = \(brand) AND c.name = \(campaign)
                """
            ).first?.decode(Int64.self, at: 0)
            guard campaignID != nil else {
                throw InputError(
                    field: "campaign",
                    problem: "brand '\(brand)' has no campaign '\(campaign)' (add it with `switchboard a2p campaign`)")
            }
        }
        let table = poolName != nil ? "switchboard.pools" : "switchboard.senders"
        let column = poolName != nil ? "name" : "address"
        return try await pool.query(
            """
            UPDATE \(unescaped: table) SET ten_dlc_campaign_id = \(campaignID)
            WHERE account_id = \(accountID) AND \(unescaped: column) = \(poolName ?? number)
            """
        ).affectedRows > 0
    }

    /// One {campaign × carrier} budget as `status` shows it.
    public struct BudgetStatus: Sendable, Equatable, Codable {
        public var account: String
        public var brand: String
        public var campaign: String
        public var carrier: String
        /// Segments per minute, and the same per second (the effective MPS to that carrier).
        public var perMinute: Int
        public var mps: Double
        /// How far ahead the budget is booked, in seconds (0: free now).
        public var bookedAhead: Double
        /// Segments counted today (US Pacific) against the brand's daily cap for this carrier.
        public var today: Int
        public var dailyCap: Int?
    }

    /// Every registered campaign's budget per major carrier (and any other carrier it booked).
    public func budgets() async throws -> [BudgetStatus] {
        try await pool.query(
            """
            WITH carriers AS (
                SELECT c.id AS campaign_id, k.carrier FROM switchboard.ten_dlc_campaigns c
                CROSS JOIN (VALUES ('att'), ('tmobile'), ('verizon')) k (carrier)
                UNION
                SELECT ten_dlc_campaign_id, carrier FROM switchboard.carrier_budgets
            )
            SELECT a.name, b.name, c.name, k.carrier,
                   CASE WHEN k.carrier IN ('att', 'tmobile', 'verizon') THEN c.per_carrier_per_minute
                        ELSE c.minor_carrier_per_minute END,
                   extract(epoch FROM greatest(coalesce(u.tat, now()), now()) - now())::float8,
                   coalesce(d.segments, 0)::bigint,
                   CASE WHEN k.carrier = 'tmobile' THEN b.tmobile_per_day END
            FROM carriers k
            JOIN switchboard.ten_dlc_campaigns c ON c.id = k.campaign_id
            JOIN switchboard.brands b ON b.id = c.brand_id
            JOIN switchboard.accounts a ON a.id = b.account_id
            LEFT JOIN switchboard.carrier_budgets u ON u.ten_dlc_campaign_id = c.id AND u.carrier = k.carrier
            LEFT JOIN switchboard.brand_daily_counts d ON d.brand_id = b.id AND d.carrier = k.carrier
                AND d.day = (now() AT TIME ZONE 'America/Los_Angeles')::date
            ORDER BY 1, 2, 3, 4
            """
        ).map {
            let perMinute = try $0.decode(Int.self, at: 4)
            return BudgetStatus(
                account: try $0.decode(String.self, at: 0), brand: try $0.decode(String.self, at: 1),
                campaign: try $0.decode(String.self, at: 2), carrier: try $0.decode(String.self, at: 3),
                perMinute: perMinute, mps: Double(perMinute) / 60, bookedAhead: try $0.decode(Double.self, at: 5),
                today: try $0.decode(Int.self, at: 6), dailyCap: try $0.decode(Int?.self, at: 7))
        }
    }

    /// Jobs waiting for one carrier's next window under one cap (`per_minute`, `per_day`).
    public struct HeldJobs: Sendable, Equatable, Codable {
        public var carrier: String
        public var cap: String
        public var jobs: Int

        /// What `status` and the dashboard show in a budget's row: `3 (per_day)`, or `0`.
        public static func waiting(for carrier: String, in held: [HeldJobs]) -> String {
            let rows = held.filter { $0.carrier == carrier }.map { "\($0.jobs) (\($0.cap))" }
            return rows.isEmpty ? "0" : rows.joined(separator: ", ")
        }
    }

    /// Jobs waiting for a carrier's next window, by carrier and cap, counted up to `cap` in all.
    public func held(upTo cap: Int = 100_000) async throws -> [HeldJobs] {
        try await pool.query(
            """
            SELECT h ->> 'carrier', h ->> 'cap', count(*)::bigint FROM (
                SELECT metadata -> 'carrierHeld' AS h FROM switchboard.jobs
                WHERE state IN ('scheduled', 'available') AND metadata ? 'carrierHeld' LIMIT \(cap)
            ) s GROUP BY 1, 2 ORDER BY 1, 2
            """
        ).map {
            HeldJobs(
                carrier: try $0.decode(String.self, at: 0), cap: try $0.decode(String.self, at: 1),
                jobs: try $0.decode(Int.self, at: 2))
        }
    }
}
