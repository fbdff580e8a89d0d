import Foundation
import Postgres
import SwitchboardCore

/// A booked send slot on a sender.
public struct SenderReservation: Sendable, Equatable, Codable {
    public var senderID: Int64
    public var address: String
    /// When the message may go out.
    public var slot: Date
    /// The sender's rate (segments per second): how late a send may be before it would crowd
    /// the next slot.
    public var rate: Double
    /// The database's clock when the slot was booked. `slot` is on that clock too, so the wait is
    /// `slot - bookedAt`, counted from when the answer arrived: no host's own clock enters.
    public var bookedAt: Date?

    public init(senderID: Int64, address: String, slot: Date, rate: Double, bookedAt: Date? = nil) {
        self.senderID = senderID
        self.address = address
        self.slot = slot
        self.rate = rate
        self.bookedAt = bookedAt
    }

    /// Seconds from the booking to the slot, on the database's clock (negative: already due).
    public var secondsUntilSlotAtBooking: Double? {
        bookedAt.map { slot.timeIntervalSince($0) }
    }
}

/// The answer to a reservation request.
public enum ReservationResult: Sendable, Equatable {
    case reserved(SenderReservation)
    /// Every candidate is booked beyond the horizon; ask again at `retryAt`, which is on the
    /// database's clock: `bookedAt` is that clock when the answer was given.
    case saturated(retryAt: Date, bookedAt: Date)
    /// No sender can send this (pool empty, or nothing with the capability).
    case noSender
}

/// Senders (numbers with throughput limits), pools, and slot reservations.
public struct SenderStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Adds a sender; rate and capabilities default by kind. Errors name the field.
    @discardableResult
    public func addSender(
        accountID: Int64, address: String, kind: SenderKind, rate: Double? = nil, burst: Double = 1,
        capabilities: [String]? = nil
    ) async throws -> Int64 {
        let spec = try SenderSpec(address: address, kind: kind, rate: rate, burst: burst, capabilities: capabilities)
        return try await pool.query(Self.upsert(spec, accountID: accountID))[0].decode(Int64.self, at: 0)
    }

    static func upsert(_ spec: SenderSpec, accountID: Int64) -> PostgresQuery {
        """
        INSERT INTO switchboard.senders (account_id, address, kind, capabilities, rate, burst, country_code, area_code)
        VALUES (\(accountID), \(spec.address), \(spec.kind.rawValue), \(spec.capabilities)::text[], \(spec.rate),
                \(spec.burst), \(spec.countryCode), \(spec.areaCode))
        ON CONFLICT (account_id, address) DO UPDATE SET kind = excluded.kind, capabilities = excluded.capabilities,
            rate = excluded.rate, burst = excluded.burst, enabled = true
        RETURNING id
        """
    }

    /// Creates a pool (or returns the existing one) and adds senders to it.
    @discardableResult
    public func createPool(accountID: Int64, name: String, senderIDs: [Int64], sticky: Bool = true) async throws
        -> Int64
    {
        try JobSpec.validateName(name, field: "pool")
        return try await pool.transaction { connection in
            let id = try await connection.query(
                """
                INSERT INTO switchboard.pools (account_id, name, sticky) VALUES (\(accountID), \(name), \(sticky))
                ON CONFLICT (account_id, name) DO UPDATE SET sticky = excluded.sticky RETURNING id
                """
            )[0].decode(Int64.self, at: 0)
            try await connection.query(
                """
                INSERT INTO switchboard.pool_senders (pool_id, sender_id) SELECT \(id), unnest(\(senderIDs)::bigint[])
                ON CONFLICT DO NOTHING
                """)
            return id
        }
    }

    public func senderID(accountID: Int64, address: String) async throws -> Int64? {
        try await pool.query(
            "SELECT id FROM switchboard.senders WHERE account_id = \(accountID) AND address = \(address) AND enabled"
        ).first?.decode(Int64.self, at: 0)
    }

    public func poolID(accountID: Int64, name: String) async throws -> Int64? {
        try await pool.query("SELECT id FROM switchboard.pools WHERE account_id = \(accountID) AND name = \(name)")
            .first?.decode(Int64.self, at: 0)
    }

    /// Books `segments` on one sender, at most `horizon` ahead.
    public func reserve(senderID: Int64, segments: Int, horizon: Duration) async throws -> ReservationResult {
        let rows = try await pool.query(
            """
            SELECT r.*, clock_timestamp()
            FROM switchboard.reserve_sender(\(senderID), \(Double(segments)), \(horizon.seconds)) AS r
            """)
        guard let row = rows.first else { return .noSender }
        let bookedAt = try row.decode(Date.self, at: 5)
        if let slot = try row.decode(Date?.self, at: 2) {
            return .reserved(
                SenderReservation(
                    senderID: try row.decode(Int64.self, at: 0), address: try row.decode(String.self, at: 1),
                    slot: slot, rate: try row.decode(Double.self, at: 4), bookedAt: bookedAt))
        }
        guard let retry = try row.decode(Date?.self, at: 3) else { return .noSender }
        return .saturated(retryAt: retry, bookedAt: bookedAt)
    }
}
