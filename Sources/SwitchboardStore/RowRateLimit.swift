import Foundation
import Postgres

/// GCRA booking on a row that keeps its own booking time and rate: an account's calls per second,
/// a campaign's cap. (Senders have their own SQL functions, which also choose among a pool.)
struct RowRateLimit: Sendable {
    /// Trusted identifiers chosen by this module, never user input.
    let table: String
    let tatColumn: String
    let rateColumn: String

    static let accountCalls = RowRateLimit(
        table: "switchboard.accounts", tatColumn: "calls_tat", rateColumn: "calls_per_second")
    static let campaignCap = RowRateLimit(table: "switchboard.campaigns", tatColumn: "tat", rateColumn: "rate_cap")

    /// Books the row's next slot, at most `horizon` ahead; when it is booked out, says when to ask
    /// again. One statement either way.
    func reserve(pool: PostgresPool, id: Int64, horizon: Duration) async throws -> ReservationResult {
        let rows = try await pool.query(
            """
            WITH booked AS (
                UPDATE \(unescaped: table) SET \(unescaped: tatColumn) =
                    greatest(\(unescaped: tatColumn), now()) + 1 / \(unescaped: rateColumn) * interval '1 second'
                WHERE id = \(id) AND \(unescaped: rateColumn) IS NOT NULL
                  AND greatest(\(unescaped: tatColumn), now()) <= now() + \(horizon.seconds) * interval '1 second'
                RETURNING \(unescaped: tatColumn) - 1 / \(unescaped: rateColumn) * interval '1 second' AS slot,
                          \(unescaped: rateColumn) AS rate
            )
            SELECT b.slot, b.rate,
                   (SELECT greatest(\(unescaped: tatColumn), now()) - \(horizon.seconds) * interval '1 second'
                    FROM \(unescaped: table) WHERE id = \(id)),
                   clock_timestamp()
            FROM (SELECT 1) AS one LEFT JOIN booked b ON true
            """)
        guard let row = rows.first else { return .noSender }
        let bookedAt = try row.decode(Date.self, at: 3)
        if let slot = try row.decode(Date?.self, at: 0) {
            return .reserved(
                SenderReservation(
                    senderID: id, address: "", slot: slot, rate: try row.decode(Double.self, at: 1), bookedAt: bookedAt)
            )
        }
        guard let retry = try row.decode(Date?.self, at: 2) else { return .noSender }
        return .saturated(retryAt: retry, bookedAt: bookedAt)
    }
}
