import Foundation
import Postgres
import SwitchboardCore

/// A message or call whose price is not known yet (migration 0027).
public struct PriceCheck: Sendable, Equatable {
    public var id: Int64
    public var resource: StatusUpdate.Resource
    public var sid: String
    public var accountID: Int64
    public var accountName: String
    public var from: String?
    /// When Twilio created it (the list endpoint's `DateSent` day; paging stops before it).
    public var createdAt: Date
    public var finalAt: Date
    /// Checks so far, this one included.
    public var checks: Int
}

/// A price Twilio published, as it wrote it: `price` is a decimal string (a charge is negative),
/// `unit` an ISO 4217 code.
public struct PublishedPrice: Sendable, Equatable {
    public var sid: String
    public var price: String
    public var unit: String

    /// Refuses what is not a decimal number and a three-letter currency: a bad value from the
    /// API must not fail a whole batch's statement.
    public init?(sid: String, price: String?, unit: String?) {
        guard let price, let unit, Self.isDecimal(price), unit.count == 3,
            unit.allSatisfy({ $0.isASCII && $0.isLetter })
        else { return nil }
        self.sid = sid
        self.price = price
        self.unit = unit.uppercased()
    }

    static func isDecimal(_ text: String) -> Bool {
        var digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.count <= 32 else { return false }
        if let dot = digits.firstIndex(of: ".") {
            let fraction = digits[digits.index(after: dot)...]
            guard !fraction.isEmpty, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            digits = digits[..<dot]
        }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

/// Costs added up (`switchboard costs`): one row per group.
public struct CostTotal: Sendable, Equatable, Codable {
    /// The group's key: a day (YYYY-MM-DD), an account's name, a sender or a campaign's name.
    public var key: String
    public var resource: String
    public var priceUnit: String
    public var priced: Int64
    /// What was charged (positive), as a decimal string.
    public var cost: String

    public init(key: String, resource: String, priceUnit: String, priced: Int64, cost: String) {
        self.key = key
        self.resource = resource
        self.priceUnit = priceUnit
        self.priced = priced
        self.cost = cost
    }
}

/// What the pricer has yet to do.
public struct PriceBacklog: Sendable, Equatable, Codable {
    /// Checks waiting for Twilio to publish a price.
    public var waiting: Int64
    /// Given up on: Twilio never published a price by the give-up age.
    public var unknown: Int64
    public var oldestWaiting: Date?

    public init(waiting: Int64, unknown: Int64, oldestWaiting: Date?) {
        self.waiting = waiting
        self.unknown = unknown
        self.oldestWaiting = oldestWaiting
    }
}

/// Price checks and cost totals (migration 0027): the pricer takes due checks under a lease (so
/// any number of worker hosts share them), records what Twilio published, and moves the rest on.
public struct PriceStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Takes up to `limit` due checks, oldest due first, and pushes them out by `lease`: another
    /// pricer does not take them unless this one dies before it moves them on.
    public func claimDue(limit: Int, lease: Duration) async throws -> [PriceCheck] {
        try await pool.query(
            """
            WITH due AS (
                SELECT id FROM switchboard.price_checks
                WHERE next_check_at <= now() AND gave_up_at IS NULL
                ORDER BY next_check_at
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE switchboard.price_checks c
            SET next_check_at = now() + make_interval(secs => \(lease.seconds)), checks = c.checks + 1
            FROM due, switchboard.accounts a
            WHERE c.id = due.id AND a.id = c.account_id
            RETURNING c.id, c.resource, c.sid, c.account_id, a.name, c.from_address, c.created_at, c.final_at, c.checks
            """
        ).map { row in
            PriceCheck(
                id: try row.decode(Int64.self, at: 0), resource: try row.decode(StatusUpdate.Resource.self, at: 1),
                sid: try row.decode(String.self, at: 2), accountID: try row.decode(Int64.self, at: 3),
                accountName: try row.decode(String.self, at: 4), from: try row.decode(String?.self, at: 5),
                createdAt: try row.decode(Date.self, at: 6), finalAt: try row.decode(Date.self, at: 7),
                checks: try row.decode(Int.self, at: 8))
        }
    }

    /// Records published prices: the row, the job's result, the cost totals and the event, and
    /// settles their checks, in one transaction. Returns the SIDs priced (a row already priced,
    /// or moved to history meanwhile, is not; its check stays for the next pass).
    @discardableResult
    public func record(_ resource: StatusUpdate.Resource, _ prices: [PublishedPrice]) async throws -> [String] {
        guard !prices.isEmpty else { return [] }
        return try await pool.query(
            """
            SELECT switchboard.record_prices(\(resource.rawValue), \(prices.map(\.sid))::text[],
                \(prices.map(\.price))::numeric[], \(prices.map(\.unit))::text[])
            """
        )[0].decode([String].self, at: 0)
    }

    /// Moves checks that found no price on to their next time.
    public func reschedule(_ checks: [(id: Int64, at: Date)]) async throws {
        guard !checks.isEmpty else { return }
        try await pool.query(
            """
            UPDATE switchboard.price_checks c SET next_check_at = u.at
            FROM unnest(\(checks.map(\.id))::bigint[], \(checks.map(\.at))::timestamptz[]) AS u(id, at)
            WHERE c.id = u.id AND c.gave_up_at IS NULL
            """)
    }

    /// Marks checks whose price never came: the job's result and an event say it is unknown.
    @discardableResult
    public func giveUp(ids: [Int64]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await pool.query("SELECT switchboard.give_up_prices(\(ids)::bigint[])")[0].decode(Int.self, at: 0)
    }

    /// Forgets checks given up on more than `age` ago (a message without a price and without a
    /// waiting check reads as never priced), at most `limit` at a time.
    @discardableResult
    public func pruneGivenUp(olderThan age: Duration, limit: Int = 10_000) async throws -> Int {
        try await pool.query(
            """
            DELETE FROM switchboard.price_checks WHERE id IN (
                SELECT id FROM switchboard.price_checks
                WHERE gave_up_at < now() - make_interval(secs => \(age.seconds)) LIMIT \(limit))
            """
        ).affectedRows
    }

    public func backlog() async throws -> PriceBacklog {
        let row = try await pool.query(
            """
            SELECT count(*) FILTER (WHERE gave_up_at IS NULL), count(*) FILTER (WHERE gave_up_at IS NOT NULL),
                   min(final_at) FILTER (WHERE gave_up_at IS NULL)
            FROM switchboard.price_checks
            """)[0]
        return PriceBacklog(
            waiting: try row.decode(Int64.self, at: 0), unknown: try row.decode(Int64.self, at: 1),
            oldestWaiting: try row.decode(Date?.self, at: 2))
    }

    /// How `costs` groups its totals.
    public enum Grouping: String, Sendable, CaseIterable {
        case day, account, sender, campaign
    }

    /// Costs of the UTC days `since` to `until` (inclusive), grouped, optionally of one account or
    /// campaign; largest cost first (by day: day order).
    public func costs(
        by grouping: Grouping, since: Date, until: Date, accountID: Int64? = nil, campaignID: Int64? = nil
    ) async throws -> [CostTotal] {
        let key: String =
            switch grouping {
            case .day: "to_char(t.day, 'YYYY-MM-DD')"
            case .account: "a.name"
            case .sender: "t.sender"
            case .campaign: "coalesce(c.name, CASE WHEN t.campaign_id = 0 THEN '' ELSE t.campaign_id::text END)"
            }
        let order = grouping == .day ? "1, 2, 3" : "sum(t.cost) DESC, 1, 2, 3"
        return try await pool.query(
            """
            SELECT \(unescaped: key), t.resource, t.price_unit, sum(t.priced)::bigint, sum(t.cost)::text
            FROM switchboard.cost_totals t
            JOIN switchboard.accounts a ON a.id = t.account_id
            LEFT JOIN switchboard.campaigns c ON c.id = t.campaign_id
            WHERE t.day BETWEEN (\(since) AT TIME ZONE 'UTC')::date AND (\(until) AT TIME ZONE 'UTC')::date
              AND (\(accountID)::bigint IS NULL OR t.account_id = \(accountID))
              AND (\(campaignID)::bigint IS NULL OR t.campaign_id = \(campaignID))
            GROUP BY 1, 2, 3
            ORDER BY \(unescaped: order)
            """
        ).map { row in
            CostTotal(
                key: try row.decode(String.self, at: 0), resource: try row.decode(String.self, at: 1),
                priceUnit: try row.decode(String.self, at: 2), priced: try row.decode(Int64.self, at: 3),
                cost: try row.decode(String.self, at: 4))
        }
    }
}
