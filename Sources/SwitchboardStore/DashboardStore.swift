import Foundation
import Postgres

/// The dashboard's readings: history of queue depth and throughput, campaign progress, recent
/// failures. Each is one query over indexes of unfinished or recently finished rows.
public struct DashboardStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// Records this minute's queue depth (once per minute across all hosts: later writers find the
    /// minute taken and skip the count) and forgets samples older than seven days. Counted as
    /// `OperationsStore.queueCounts` counts (a state past its cap is the planner's estimate).
    public func sampleQueueDepth() async throws {
        let taken = try await pool.query(
            "SELECT 1 FROM switchboard.queue_samples WHERE minute = date_trunc('minute', now())")
        if taken.isEmpty {
            var depth: [String: [String: Int]] = [:]
            for count in try await OperationsStore(pool: pool).queueCounts() {
                depth[count.queue, default: [:]][count.state, default: 0] += count.count
            }
            let rows =
                depth.flatMap { queue, states in states.map { (queue, $0.key, $0.value) } } + [("", "sampled", 1)]
            try await pool.query(
                """
                INSERT INTO switchboard.queue_samples (minute, queue, state, jobs)
                SELECT date_trunc('minute', now()), q, s, n
                FROM unnest(\(rows.map(\.0))::text[], \(rows.map(\.1))::text[], \(rows.map { Int64($0.2) })::bigint[]) AS u(q, s, n)
                ON CONFLICT DO NOTHING
                """)
        }
        try await pool.query("DELETE FROM switchboard.queue_samples WHERE minute < now() - interval '7 days'")
    }

    public struct Point: Sendable, Equatable {
        public var minute: Date
        public var series: String
        public var value: Double
    }

    /// Unfinished jobs per minute by state (available, running) over the last `hours`.
    public func depthHistory(hours: Int) async throws -> [Point] {
        try await points(
            """
            SELECT minute, state, sum(jobs)::float8 FROM switchboard.queue_samples
            WHERE minute > now() - make_interval(hours => \(hours))
            GROUP BY 1, 2 ORDER BY 1, 2
            """)
    }

    /// Jobs finished per minute by final state over the last `hours`: those moved to history from
    /// the archiver's counts, those still in the hot table one by one.
    public func throughputHistory(hours: Int) async throws -> [Point] {
        try await points(
            """
            SELECT minute, state, sum(jobs)::float8 FROM (
                SELECT minute, state::text, jobs FROM switchboard.job_history_counts
                WHERE minute > now() - make_interval(hours => \(hours))
                UNION ALL
                SELECT date_bin('1 minute', finished_at, timestamptz '2000-01-01 00:00:00+00'), state::text, 1
                FROM switchboard.jobs
                WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at > now() - make_interval(hours => \(hours))
            ) finished
            GROUP BY 1, 2 ORDER BY 1, 2
            """)
    }

    private func points(_ query: PostgresQuery) async throws -> [Point] {
        try await pool.query(query).map {
            Point(
                minute: try $0.decode(Date.self, at: 0), series: try $0.decode(String.self, at: 1),
                value: try $0.decode(Double.self, at: 2))
        }
    }

    public struct CampaignProgress: Sendable, Equatable {
        public var id: Int64 = 0
        public var account: String
        public var name: String
        public var state: String
        public var recipients: Int
        public var remaining: Int
        public var optedOut: Int
        public var rateCap: Double?
    }

    /// Campaigns active or touched in the last week: recipients, those still to send (not yet fed,
    /// or live jobs). From the feed's counters and the live jobs (at most each campaign's
    /// look-ahead), never a count over recipients.
    public func campaigns() async throws -> [CampaignProgress] {
        try await pool.query(
            """
            WITH unfinished AS (
                SELECT (payload ->> 'campaignId')::bigint AS id, count(*) AS jobs FROM switchboard.jobs
                WHERE state IN ('scheduled', 'available', 'running') AND payload ? 'campaignId' GROUP BY 1
            )
            SELECT a.name, c.name, c.state, coalesce(f.recipients, 0)::bigint,
                   (CASE WHEN c.state = 'cancelled' THEN 0 ELSE coalesce(f.recipients - f.fed, 0) END
                    + coalesce(u.jobs, 0))::bigint,
                   coalesce(f.opted_out, 0)::bigint, c.rate_cap, c.id
            FROM switchboard.campaigns c JOIN switchboard.accounts a ON a.id = c.account_id
            LEFT JOIN switchboard.campaign_feeds f ON f.campaign_id = c.id LEFT JOIN unfinished u ON u.id = c.id
            WHERE c.state = 'active' OR c.updated_at > now() - interval '7 days' OR u.jobs > 0
            ORDER BY c.id DESC LIMIT 20
            """
        ).map {
            CampaignProgress(
                id: try $0.decode(Int64.self, at: 7),
                account: try $0.decode(String.self, at: 0), name: try $0.decode(String.self, at: 1),
                state: try $0.decode(String.self, at: 2), recipients: try $0.decode(Int.self, at: 3),
                remaining: try $0.decode(Int.self, at: 4), optedOut: try $0.decode(Int.self, at: 5),
                rateCap: try $0.decode(Double?.self, at: 6))
        }
    }

    public struct Failure: Sendable, Equatable {
        public var at: Date
        /// `job` (the attempt failed for good) or `delivery` (a callback reported it).
        public var stage: String
        public var kind: String
        public var jobID: Int64?
        public var recipient: String?
        public var reason: String
    }

    /// The latest failures: jobs that failed for good and deliveries that failed.
    public func recentFailures(limit: Int = 20) async throws -> [Failure] {
        try await pool.query(
            """
            (SELECT finished_at, 'job', kind, id, payload ->> 'to', coalesce(errors -> -1 ->> 'error', 'failed')
             FROM switchboard.all_jobs WHERE state = 'failed' AND errors <> '[]'::jsonb
               AND finished_at > now() - interval '7 days'
             ORDER BY finished_at DESC LIMIT \(limit))
            UNION ALL
            (SELECT updated_at, 'delivery', channel, job_id, to_address, status || ' (error ' || error_code || ')'
             FROM switchboard.messages WHERE error_code IS NOT NULL AND updated_at > now() - interval '7 days'
             ORDER BY updated_at DESC LIMIT \(limit))
            ORDER BY 1 DESC LIMIT \(limit)
            """
        ).map {
            Failure(
                at: try $0.decode(Date.self, at: 0), stage: try $0.decode(String.self, at: 1),
                kind: try $0.decode(String.self, at: 2), jobID: try $0.decode(Int64?.self, at: 3),
                recipient: try $0.decode(String?.self, at: 4), reason: try $0.decode(String.self, at: 5))
        }
    }
}
