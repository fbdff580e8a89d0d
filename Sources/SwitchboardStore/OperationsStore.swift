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
