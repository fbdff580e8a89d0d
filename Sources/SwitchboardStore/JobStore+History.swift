import Foundation
import Postgres
import SwitchboardCore

/// Hot and cold: finished jobs move from `jobs` to `job_history` (partitioned by the day they
/// finished, migration 0018), whole days of history are dropped past the retention, and the
/// per-minute counts of what moved answer "how many" without counting history rows.
extension JobStore {
    /// The columns a job keeps in history: all of `jobs` but its lease.
    static let historyColumns = """
        id, kind, queue, priority, state, run_at, attempt, max_attempts, payload, result, errors, outcome_unknown,
        idempotency_key, created_at, attempted_at, finished_at, metadata
        """

    /// One archiver at a time moves jobs (any host): the counters it adds to are then never
    /// locked in two orders at once. "SWBTARCH".
    static let archiverLockKey: Int64 = 0x5357_4254_4152_4348

    /// Creates the missing daily partitions of `job_history` up to `daysAhead` days after today
    /// (UTC); returns how many.
    @discardableResult
    public func createHistoryPartitions(daysAhead: Int = 2) async throws -> Int {
        try await HistoryTables.createPartitions(of: "switchboard.job_history", daysAhead: daysAhead, pool: pool)
    }

    /// Moves up to `limit` jobs that finished more than `age` ago to `job_history`, oldest first,
    /// and adds them to the per-minute counts and their campaigns' counters, all in one
    /// transaction. Returns how many moved (0 while another host's archiver is at work). Rows a
    /// status callback or an operator holds at that moment are skipped and moved next time.
    public func archive(finishedMoreThan age: Duration, limit: Int = 10_000) async throws -> Int {
        try await HistoryTables.moveBatch(
            lockKey: Self.archiverLockKey,
            """
            WITH picked AS (
                SELECT id FROM switchboard.jobs
                WHERE state IN ('completed', 'failed', 'cancelled')
                  AND finished_at < now() - make_interval(secs => \(age.seconds))
                  AND finished_at >= switchboard.history_start('switchboard.job_history')
                ORDER BY finished_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), moved AS (
                DELETE FROM switchboard.jobs j USING picked WHERE j.id = picked.id
                RETURNING j.*
            ), archived AS (
                INSERT INTO switchboard.job_history (\(unescaped: Self.historyColumns))
                SELECT \(unescaped: Self.historyColumns) FROM moved ORDER BY finished_at
                RETURNING kind, state, finished_at,
                    CASE WHEN payload ? 'campaignId' THEN (payload ->> 'campaignId')::bigint END AS campaign_id
            ), per_minute AS (
                INSERT INTO switchboard.job_history_counts AS c (minute, kind, state, jobs)
                SELECT date_bin('1 minute', finished_at, timestamptz '2000-01-01 00:00:00+00'), kind, state, count(*)
                FROM archived GROUP BY 1, 2, 3
                ON CONFLICT (minute, kind, state) DO UPDATE SET jobs = c.jobs + excluded.jobs
            ), per_campaign AS (
                UPDATE switchboard.campaign_feeds f
                SET completed = f.completed + n.completed, failed = f.failed + n.failed,
                    cancelled = f.cancelled + n.cancelled
                FROM (
                    SELECT campaign_id, count(*) FILTER (WHERE state = 'completed') AS completed,
                           count(*) FILTER (WHERE state = 'failed') AS failed,
                           count(*) FILTER (WHERE state = 'cancelled') AS cancelled
                    FROM archived WHERE campaign_id IS NOT NULL GROUP BY 1
                ) n
                WHERE f.campaign_id = n.campaign_id
            )
            SELECT count(*)::int FROM archived
            """, pool: pool)
    }

    /// Merges fields into a job's result, wherever the job is (hot or moved to history): `under`
    /// beneath the result's own keys, `over` above them. A result that is not an object is left
    /// alone. Returns whether the job was found.
    @discardableResult
    public static func mergeResult(
        jobID: Int64, under: JSONValue = .object([:]), over: JSONValue, on connection: PostgresConnection
    ) async throws -> Bool {
        try await connection.query(
            "SELECT switchboard.merge_job_result(\(jobID), \(under.jsonText)::jsonb, \(over.jsonText)::jsonb)"
        )[0].decode(Bool.self, at: 0)
    }

    /// Removes finished jobs older than `retention`: whole `job_history` partitions that ended
    /// before it (a drop waits at most five seconds for its lock, else it is left for the next
    /// pass), up to `limit` jobs still in the hot table, and the per-minute counts as old.
    public func prune(olderThan retention: Duration, limit: Int = 10_000) async throws -> PruneResult {
        var pruned = PruneResult()
        (pruned.droppedPartitions, pruned.droppedRows) = try await HistoryTables.dropPartitions(
            of: "switchboard.job_history", olderThan: retention, pool: pool)
        pruned.deleted = try await pool.query(
            """
            DELETE FROM switchboard.jobs WHERE id IN (
                SELECT id FROM switchboard.jobs
                WHERE state IN ('completed', 'failed', 'cancelled')
                  AND finished_at < now() - make_interval(secs => \(retention.seconds))
                LIMIT \(limit))
            """
        ).affectedRows
        try await pool.query(
            """
            DELETE FROM switchboard.job_history_counts
            WHERE minute < now() - make_interval(secs => \(retention.seconds)) - interval '1 minute'
            """)
        return pruned
    }
}
