import Foundation
import Postgres
import SwitchboardCore

/// What operators do to jobs by hand: list, retry, cancel, purge.
extension JobStore {
    public struct JobSummary: Sendable, Equatable, Codable {
        public var id: Int64
        public var kind: String
        public var queue: String
        public var state: String
        public var attempt: Int
        public var maxAttempts: Int
        public var runAt: Date
        public var createdAt: Date
        public var lastError: String?
    }

    public struct JobFilter: Sendable {
        public var states: [JobState] = []
        public var kind: String?
        public var queue: String?
        public var limit = 50

        public init(states: [JobState] = [], kind: String? = nil, queue: String? = nil, limit: Int = 50) {
            self.states = states
            self.kind = kind
            self.queue = queue
            self.limit = limit
        }
    }

    /// Newest first, from the hot table and history.
    public func list(_ filter: JobFilter) async throws -> [JobSummary] {
        let states = filter.states.map(\.rawValue)
        return try await pool.query(
            """
            SELECT id, kind, queue, state::text, attempt, max_attempts, run_at, created_at, errors->-1->>'error'
            FROM switchboard.all_jobs
            WHERE (cardinality(\(states)::text[]) = 0 OR state::text = ANY(\(states)::text[]))
              AND (\(filter.kind)::text IS NULL OR kind = \(filter.kind))
              AND (\(filter.queue)::text IS NULL OR queue = \(filter.queue))
            ORDER BY id DESC LIMIT \(filter.limit)
            """
        ).map {
            JobSummary(
                id: try $0.decode(Int64.self, at: 0), kind: try $0.decode(String.self, at: 1),
                queue: try $0.decode(String.self, at: 2), state: try $0.decode(String.self, at: 3),
                attempt: try $0.decode(Int.self, at: 4), maxAttempts: try $0.decode(Int.self, at: 5),
                runAt: try $0.decode(Date.self, at: 6), createdAt: try $0.decode(Date.self, at: 7),
                lastError: try $0.decode(String?.self, at: 8))
        }
    }

    /// Failed or cancelled jobs run again now, with one more attempt if they had used them all;
    /// one already moved to history comes back to the hot table under its id (and leaves the
    /// counts of what was archived). Returns the ids that were retried (others were not failed
    /// or cancelled).
    public func retry(ids: [Int64]) async throws -> [Int64] {
        let hot = try await pool.query(
            """
            WITH retried AS (
                UPDATE switchboard.jobs SET state = 'available', run_at = now(), finished_at = NULL,
                    max_attempts = greatest(max_attempts, attempt + 1)
                WHERE id = ANY(\(ids)::bigint[]) AND state IN ('failed', 'cancelled')
                RETURNING id, queue
            ), woken AS (
                SELECT pg_notify(\(Self.notificationChannel), queue) FROM (SELECT DISTINCT queue FROM retried) q
            )
            SELECT id FROM retried, (SELECT count(*) FROM woken) w
            """
        ).map { try $0.decode(Int64.self, at: 0) }
        let rest = Array(Set(ids).subtracting(hot))
        guard !rest.isEmpty else { return hot.sorted() }
        // A statement of its own, with a snapshot taken after the one above: a job the archiver
        // moved meanwhile is found here. (The insert trigger wakes the workers.)
        let archived = try await pool.query(
            """
            WITH back AS (
                DELETE FROM switchboard.job_history
                WHERE id = ANY(\(rest)::bigint[]) AND state IN ('failed', 'cancelled')
                RETURNING *
            ), restored AS (
                INSERT INTO switchboard.jobs (\(unescaped: Self.historyColumns)) OVERRIDING SYSTEM VALUE
                SELECT id, kind, queue, priority, 'available', now(), attempt, greatest(max_attempts, attempt + 1),
                       payload, result, errors, outcome_unknown, idempotency_key, created_at, attempted_at, NULL,
                       metadata
                FROM back
                RETURNING id
            ), uncounted AS (
                UPDATE switchboard.job_history_counts c SET jobs = greatest(c.jobs - n.jobs, 0)
                FROM (
                    SELECT date_bin('1 minute', finished_at, timestamptz '2000-01-01 00:00:00+00') AS minute,
                           kind, state, count(*) AS jobs
                    FROM back GROUP BY 1, 2, 3
                ) n
                WHERE c.minute = n.minute AND c.kind = n.kind AND c.state = n.state
            ), campaigns AS (
                UPDATE switchboard.campaign_feeds f
                SET failed = greatest(f.failed - n.failed, 0), cancelled = greatest(f.cancelled - n.cancelled, 0)
                FROM (
                    SELECT (payload ->> 'campaignId')::bigint AS campaign_id,
                           count(*) FILTER (WHERE state = 'failed') AS failed,
                           count(*) FILTER (WHERE state = 'cancelled') AS cancelled
                    FROM back WHERE payload ? 'campaignId' GROUP BY 1
                ) n
                WHERE f.campaign_id = n.campaign_id
            )
            SELECT id FROM restored
            """
        ).map { try $0.decode(Int64.self, at: 0) }
        return (hot + archived).sorted()
    }

    /// Scheduled, available or running jobs stop for good. A running job's current attempt is not
    /// interrupted (a message already handed to Twilio still goes out), but its outcome is
    /// no longer recorded. Returns the ids cancelled.
    public func cancel(ids: [Int64], reason: String = "cancelled by an operator") async throws -> [Int64] {
        try await pool.query(
            """
            UPDATE switchboard.jobs SET state = 'cancelled', finished_at = now(), locked_by = NULL, locked_until = NULL,
                errors = errors || jsonb_build_array(jsonb_build_object(
                    'attempt', attempt, 'at', now(), 'error', \(reason)::text, 'kind', 'cancelled'))
            WHERE id = ANY(\(ids)::bigint[]) AND state IN ('scheduled', 'available', 'running')
            RETURNING id
            """
        ).map { try $0.decode(Int64.self, at: 0) }.sorted()
    }

    /// Deletes finished jobs (in `states`) that finished more than `olderThan` ago, from the hot
    /// table and from history; returns how many.
    public func purge(
        states: [JobState], olderThan: Duration, progress: (@Sendable (Int) -> Void)? = nil
    ) async throws -> Int {
        let finished = states.filter(\.isFinished).map(\.rawValue)
        guard !finished.isEmpty else { return 0 }
        var total = 0
        for table in ["jobs", "job_history"] {
            while true {
                // In batches, so a large purge does not hold one long transaction.
                let deleted = try await pool.query(
                    """
                    WITH doomed AS (
                        SELECT id FROM switchboard.\(unescaped: table)
                        WHERE state::text = ANY(\(finished)::text[])
                          AND finished_at < now() - make_interval(secs => \(olderThan.seconds))
                        LIMIT 5000
                    )
                    DELETE FROM switchboard.\(unescaped: table) j USING doomed WHERE j.id = doomed.id
                    """
                ).affectedRows
                total += deleted
                if deleted < 5000 { break }
                progress?(total)
            }
        }
        // What was archived and is now gone leaves the counts (whole minutes only).
        try await pool.query(
            """
            DELETE FROM switchboard.job_history_counts
            WHERE state::text = ANY(\(finished)::text[])
              AND minute + interval '1 minute' <= now() - make_interval(secs => \(olderThan.seconds))
            """)
        return total
    }
}
