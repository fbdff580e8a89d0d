import Foundation
import Postgres

/// Readings for operators: metrics at scrape time, `switchboard status`, the dashboard. Each is
/// one read-only query served by the partial indexes on unfinished and recently finished jobs.
public struct OperationsStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public struct QueueCount: Sendable, Equatable, Codable {
        public var queue: String
        public var kind: String
        public var state: String
        public var count: Int
        /// Available jobs only: the age of the oldest one that is due, in seconds.
        public var oldestDueAge: Double?
    }

    /// Unfinished jobs by queue, kind and state.
    public func queueCounts() async throws -> [QueueCount] {
        try await pool.query(
            """
            SELECT queue, kind, state::text, count(*)::bigint,
                   extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))::float8
            FROM switchboard.jobs WHERE state IN ('available', 'running')
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """
        ).map {
            QueueCount(
                queue: try $0.decode(String.self, at: 0), kind: try $0.decode(String.self, at: 1),
                state: try $0.decode(String.self, at: 2), count: try $0.decode(Int.self, at: 3),
                oldestDueAge: try $0.decode(Double?.self, at: 4))
        }
    }

    /// Voice-agent sessions not yet ended.
    public func activeVoiceSessions() async throws -> Int {
        try await pool.query("SELECT count(*)::bigint FROM switchboard.voice_sessions WHERE status <> 'ended'")[0]
            .decode(Int.self, at: 0)
    }
}

extension OperationsStore {
    public struct FinishedCount: Sendable, Equatable, Codable {
        public var kind: String
        public var state: String
        public var count: Int
    }

    /// Jobs finished in the last `window` (throughput), by kind and final state.
    public func finished(within window: Duration = .seconds(60)) async throws -> [FinishedCount] {
        try await pool.query(
            """
            SELECT kind, state::text, count(*)::bigint FROM switchboard.jobs
            WHERE state IN ('completed', 'failed', 'cancelled')
              AND finished_at > now() - make_interval(secs => \(window.seconds))
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ).map {
            FinishedCount(
                kind: try $0.decode(String.self, at: 0), state: try $0.decode(String.self, at: 1),
                count: try $0.decode(Int.self, at: 2))
        }
    }

    public struct SenderLoad: Sendable, Equatable, Codable {
        public var account: String
        public var address: String
        public var rate: Double
        /// Segments that may be booked at once ahead of the rate.
        public var burst: Double
        /// How far ahead its rate limit is booked, in seconds (0 when idle).
        public var bookedAhead: Double
        /// Messages sent from it in the last minute, and that as a share of its limit.
        public var sentLastMinute: Int
        public var utilisation: Double
        public var enabled: Bool
    }

    /// Every sender's load against its limit.
    public func senderLoad() async throws -> [SenderLoad] {
        try await pool.query(
            """
            WITH recent AS (
                SELECT account_id, from_address, count(*) AS sent FROM switchboard.messages
                WHERE created_at > now() - interval '1 minute' GROUP BY 1, 2
            )
            SELECT a.name, s.address, s.rate, extract(epoch FROM greatest(s.tat, now()) - now())::float8,
                   coalesce(r.sent, 0)::bigint, s.enabled, s.burst
            FROM switchboard.senders s JOIN switchboard.accounts a ON a.id = s.account_id
            LEFT JOIN recent r ON r.account_id = s.account_id AND r.from_address = s.address
            ORDER BY a.name, s.address
            """
        ).map {
            let rate = try $0.decode(Double.self, at: 2)
            let sent = try $0.decode(Int.self, at: 4)
            return SenderLoad(
                account: try $0.decode(String.self, at: 0), address: try $0.decode(String.self, at: 1), rate: rate,
                burst: try $0.decode(Double.self, at: 6), bookedAhead: try $0.decode(Double.self, at: 3),
                sentLastMinute: sent,
                utilisation: Double(sent) / (rate * 60), enabled: try $0.decode(Bool.self, at: 5))
        }
    }

    public struct ErrorCount: Sendable, Equatable, Codable {
        /// `send`: Twilio refused the request; `delivery`: a status callback reported it.
        public var stage: String
        public var code: Int
        public var count: Int
    }

    /// Twilio error codes of the last `window`: refused sends (from the jobs' error history) and
    /// failed deliveries (from status callbacks), most frequent first.
    public func errorCodes(within window: Duration = .seconds(3600)) async throws -> [ErrorCount] {
        try await pool.query(
            """
            SELECT stage, code, count(*)::bigint FROM (
                SELECT 'send' AS stage, substring(e->>'error' FROM 'twilio ([0-9]+)')::int AS code
                FROM (
                    SELECT errors FROM switchboard.jobs WHERE state IN ('completed', 'failed', 'cancelled')
                      AND finished_at > now() - make_interval(secs => \(window.seconds))
                    UNION ALL
                    SELECT errors FROM switchboard.jobs WHERE state IN ('available', 'running') AND errors <> '[]'
                ) j, jsonb_array_elements(j.errors) e
                WHERE (e->>'at')::timestamptz > now() - make_interval(secs => \(window.seconds))
                UNION ALL
                SELECT 'delivery', error_code FROM switchboard.messages
                WHERE error_code IS NOT NULL AND updated_at > now() - make_interval(secs => \(window.seconds))
                UNION ALL
                SELECT 'delivery', error_code FROM switchboard.calls
                WHERE error_code IS NOT NULL AND updated_at > now() - make_interval(secs => \(window.seconds))
            ) e WHERE code IS NOT NULL
            GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 20
            """
        ).map {
            ErrorCount(
                stage: try $0.decode(String.self, at: 0), code: try $0.decode(Int.self, at: 1),
                count: try $0.decode(Int.self, at: 2))
        }
    }
}
