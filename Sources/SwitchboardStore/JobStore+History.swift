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
    /// (UTC); returns how many. Waits at most five seconds for its brief lock on `job_history`
    /// (a long report reading it, say) rather than queue every reader behind it.
    @discardableResult
    public func createHistoryPartitions(daysAhead: Int = 2) async throws -> Int {
        try await pool.transaction { connection in
            try await connection.query("SET LOCAL lock_timeout = '5s'")
            return try await connection.query(
                "SELECT switchboard.create_job_history_partitions(\(daysAhead))")[0].decode(Int.self, at: 0)
        }
    }

    /// Moves up to `limit` jobs that finished more than `age` ago to `job_history`, oldest first,
    /// and adds them to the per-minute counts and their campaigns' counters, all in one
    /// transaction. Returns how many moved (0 while another host's archiver is at work). Rows a
    /// status callback or an operator holds at that moment are skipped and moved next time.
    public func archive(finishedMoreThan age: Duration, limit: Int = 10_000) async throws -> Int {
        try await pool.transaction { connection in
            let mine = try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.archiverLockKey))")
            guard try mine[0].decode(Bool.self, at: 0) else { return 0 }
            return try await connection.query(
                """
                WITH picked AS (
                    SELECT id FROM switchboard.jobs
                    WHERE state IN ('completed', 'failed', 'cancelled')
                      AND finished_at < now() - make_interval(secs => \(age.seconds))
                      AND finished_at >= switchboard.job_history_start()
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
                """
            )[0].decode(Int.self, at: 0)
        }
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
        let expired = try await pool.query(
            """
            SELECT c.relname::text, greatest(c.reltuples, 0)::bigint
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'switchboard.job_history'::regclass
              AND switchboard.job_history_partition_end(c.relname::text) <= now() - make_interval(secs => \(retention.seconds))
            ORDER BY 1
            """)
        for partition in expired {
            let name = try partition.decode(String.self, at: 0)
            try await pool.transaction { connection in
                try await connection.query("SET LOCAL lock_timeout = '5s'")
                // The name came from the catalog and matched the partition pattern above.
                try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS switchboard.\"\(name)\""))
            }
            pruned.droppedPartitions.append(name)
            pruned.droppedJobs += try partition.decode(Int.self, at: 1)
        }
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
