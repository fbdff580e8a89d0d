import Foundation
import Postgres
import SwitchboardCore

/// A state read from the database that this binary does not know is an error, not `failed`.
extension JobState: PostgresCodable {}

/// Every SQL statement of the job queue.
public struct JobStore: Sendable {
    public let pool: PostgresPool
    /// The channel `switchboard.notify_jobs_inserted()` notifies, with the queue as payload.
    public static let notificationChannel = "switchboard_jobs"

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    // MARK: enqueue

    /// Enqueues one job (validated first). Pass `connection` to enqueue inside your own transaction.
    @discardableResult
    public func enqueue(_ job: NewJob, on connection: PostgresConnection? = nil) async throws -> EnqueuedJob {
        try job.validate()
        let query: PostgresQuery = """
            SELECT id, existing FROM switchboard.enqueue(
                kind => \(job.kind), payload => \(job.payload)::jsonb, queue => \(job.queue),
                priority => \(Int16(job.priority))::smallint, run_at => \(job.runAt)::timestamptz,
                max_attempts => \(job.maxAttempts), idempotency_key => \(job.idempotencyKey))
            """
        let rows = try await pool.query(query, on: connection)
        return EnqueuedJob(id: try rows[0].decode(Int64.self, at: 0), existing: try rows[0].decode(Bool.self, at: 1))
    }

    /// Fetches one job, from the hot table or from history.
    public func job(id: Int64) async throws -> JobRecord? {
        let rows = try await pool.query(
            """
            SELECT id, kind, queue, priority, state, run_at, attempt, max_attempts, payload, result, errors,
                   outcome_unknown, locked_by, locked_until, idempotency_key, created_at, attempted_at, finished_at
            FROM switchboard.all_jobs WHERE id = \(id)
            """)
        return try rows.first.map(Self.record)
    }

    /// Jobs per state. Unfinished states count the hot table (exactly up to `exactUpTo` each,
    /// PostgreSQL's estimate past that); finished states add the jobs moved to history within
    /// the retention, from the archiver's per-minute counts, so no history row is read.
    public func countByState(exactUpTo cap: Int = 100_000) async throws -> [JobState: Int] {
        try await stateCounts(exactUpTo: cap).counts
    }

    /// As `countByState`, and which states' counts are PostgreSQL's estimate.
    public func stateCounts(exactUpTo cap: Int = 100_000) async throws -> (
        counts: [JobState: Int], approximate: Set<JobState>
    ) {
        var counts: [JobState: Int] = [:]
        var approximate: Set<JobState> = []
        for (state, counted) in zip(JobState.allCases, try await cappedCounts(JobState.allCases, cap: cap)) {
            guard counted > cap else {
                counts[state] = counted
                continue
            }
            counts[state] = max(counted, try await estimatedCount(state: state))
            approximate.insert(state)
        }
        for archived in try await pool.query(
            "SELECT state::text, sum(jobs)::bigint FROM switchboard.job_history_counts GROUP BY 1")
        {
            counts[try archived.decode(JobState.self, at: 0), default: 0] += try archived.decode(Int.self, at: 1)
        }
        return (counts.filter { $0.value > 0 }, approximate)
    }

    /// The hot table's jobs in each of `states`, reading at most `cap + 1` entries of each state's
    /// index (so a count above `cap` means "more than `cap`"). One round trip. The states are our
    /// own literals, spliced rather than bound so that each subquery can use its partial index.
    func cappedCounts(_ states: [JobState], cap: Int) async throws -> [Int] {
        let row = try await pool.query(
            """
            SELECT \(unescaped: states.map { state in
                "(SELECT count(*)::int FROM (SELECT 1 FROM switchboard.jobs WHERE state = '\(state.rawValue)' LIMIT \(cap + 1)) s)"
            }.joined(separator: ", "))
            """)[0]
        return try states.indices.map { try row.decode(Int.self, at: $0) }
    }

    /// PostgreSQL's estimate of the hot table's jobs in `state`, from the planner (no rows read).
    func estimatedCount(state: JobState) async throws -> Int {
        // EXPLAIN takes no parameters; the state is one of our own literals.
        let plan = try await pool.query(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM switchboard.jobs WHERE state = '\(unescaped: state.rawValue)'"
        )[0].decode(String.self, at: 0)
        return Int((try? JSONDecoder().decode([PlanEstimate].self, from: Data(plan.utf8)))?.first?.plan.rows ?? 0)
    }

    // MARK: claim, heartbeat, finish

    /// Claims up to `limit` available jobs of `kinds` in `queue`, in (priority, run_at, id) order.
    ///
    /// Each kind's due jobs are read from its own range of `jobs_claim_idx`, so jobs of kinds this
    /// worker does not handle are never visited, and scheduled jobs are not in that index at all:
    /// the claim costs the same whatever else is queued. Up to `limit` rows are locked per kind
    /// (`FOR UPDATE SKIP LOCKED`: concurrent claimers skip each other's rows instead of waiting),
    /// the best `limit` of them are claimed, and the rest are free again when the statement ends.
    /// The CTE is the optimisation fence that keeps the LIMIT honest: written as a plain subquery,
    /// the planner may evaluate it once per outer row and lock more rows than it returns.
    public func claim(
        queue: String, kinds: [String], limit: Int, workerID: String, lease: Duration
    ) async throws -> [ClaimedJob] {
        try await claim(queue: queue, kinds: kinds, limit: limit, workerID: workerID, lease: lease, on: nil)
    }

    /// As above, on `connection` when given (inside its transaction: `bench scale` times claims
    /// it rolls back, so timing them consumes nothing).
    public func claim(
        queue: String, kinds: [String], limit: Int, workerID: String, lease: Duration,
        on connection: PostgresConnection?
    ) async throws -> [ClaimedJob] {
        let rows = try await pool.query(
            Self.claimStatement(queue: queue, kinds: kinds, limit: limit, workerID: workerID, lease: lease),
            on: connection)
        let arrived = ContinuousClock.now
        return try rows.map { row in
            ClaimedJob(
                id: try row.decode(Int64.self, at: 0), kind: try row.decode(String.self, at: 1),
                queue: try row.decode(String.self, at: 2), attempt: try row.decode(Int.self, at: 3),
                maxAttempts: try row.decode(Int.self, at: 4),
                payload: JSONText(try row.decode(PostgresJSON.self, at: 5).text),
                previousOutcomeUnknown: try row.decode(Bool.self, at: 6), createdAt: try row.decode(Date.self, at: 7),
                metadata: JSONText(try row.decode(PostgresJSON.self, at: 8).text),
                claimedAt: try row.decode(Date.self, at: 9),
                claimArrived: arrived)
        }
        // RETURNING order is unspecified; run in claim order.
        .sorted { $0.id < $1.id }
    }

    /// The claim statement (its own function so a test can read its plan).
    static func claimStatement(
        queue: String, kinds: [String], limit: Int, workerID: String, lease: Duration
    ) -> PostgresQuery {
        """
        WITH locked AS (
            SELECT due.id FROM unnest(\(kinds)::text[]) AS handled(kind)
            CROSS JOIN LATERAL (
                SELECT id, priority, run_at FROM switchboard.jobs
                WHERE state = 'available' AND queue = \(queue) AND kind = handled.kind AND run_at <= now()
                ORDER BY priority, run_at, id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ) due
            ORDER BY due.priority, due.run_at, due.id
            LIMIT \(limit)
        )
        UPDATE switchboard.jobs j
        SET state = 'running', attempt = j.attempt + 1, attempted_at = now(), locked_by = \(workerID),
            locked_until = now() + \(lease.seconds) * interval '1 second'
        FROM locked WHERE j.id = locked.id
        RETURNING j.id, j.kind, j.queue, j.attempt, j.max_attempts, j.payload, j.outcome_unknown, j.created_at,
                  j.metadata, now()
        """
    }

    /// Extends the leases of jobs this worker still holds; returns the ids it still holds (a job
    /// missing from the answer was rescued by another worker or cancelled).
    public func extendLeases(_ jobs: [(id: Int64, attempt: Int)], workerID: String, lease: Duration) async throws
        -> Set<Int64>
    {
        guard !jobs.isEmpty else { return [] }
        let rows = try await pool.query(
            """
            UPDATE switchboard.jobs j SET locked_until = now() + \(lease.seconds) * interval '1 second'
            FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.attempt))::int[]) AS u(id, attempt)
            WHERE j.id = u.id AND j.attempt = u.attempt AND j.state = 'running' AND j.locked_by = \(workerID)
            RETURNING j.id
            """)
        return Set(try rows.map { try $0.decode(Int64.self, at: 0) })
    }

    /// Records many finished attempts in one statement. Each update is guarded on
    /// `state = 'running' AND locked_by = me AND attempt = n`, so a stale worker changes nothing.
    /// Returns the ids that were updated.
    @discardableResult
    public func finish(_ finishes: [JobFinish], workerID: String) async throws -> Set<Int64> {
        guard !finishes.isEmpty else { return [] }
        let ids = finishes.map(\.id)
        let attempts = finishes.map(\.attempt)
        let states = finishes.map(\.transition.state.rawValue)
        let delays = finishes.map { $0.transition.delay.map(\.seconds) }
        let results = finishes.map { $0.transition.result }
        let errors = finishes.map { $0.transition.error }
        let errorKinds = finishes.map { $0.transition.errorKind?.rawValue }
        let giveBack = finishes.map(\.transition.givesBackAttempt)
        let unknown = finishes.map(\.transition.outcomeUnknown)
        let metadata = finishes.map { Nullable($0.transition.metadata) }
        let rows = try await pool.query(
            """
            UPDATE switchboard.jobs j SET
                state = u.state::switchboard.job_state,
                run_at = CASE WHEN u.state IN ('available', 'scheduled') THEN now() + coalesce(u.delay, 0) * interval '1 second'
                    ELSE j.run_at END,
                -- Merged into an object the webhook may already have written (a delivery status that
                -- outran the completion): the keys already there are newer and stay.
                result = CASE WHEN u.result IS NULL THEN j.result
                    WHEN jsonb_typeof(u.result::jsonb) = 'object' AND jsonb_typeof(j.result) = 'object'
                        THEN u.result::jsonb || j.result
                    ELSE u.result::jsonb END,
                metadata = coalesce(u.metadata::jsonb, j.metadata),
                errors = CASE WHEN u.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'error', u.error, 'kind', u.error_kind)) END,
                attempt = CASE WHEN u.give_back THEN j.attempt - 1 ELSE j.attempt END,
                finished_at = CASE WHEN u.state IN ('completed', 'failed', 'cancelled') THEN now() END,
                -- Once an attempt's outcome is unknown, later attempts keep checking until the job ends.
                outcome_unknown = (u.unknown OR j.outcome_unknown), locked_by = NULL, locked_until = NULL
            FROM unnest(\(ids)::bigint[], \(attempts)::int[], \(states)::text[], \(delays.map(Nullable.init))::float8[],
                        \(results.map(Nullable.init))::text[], \(errors.map(Nullable.init))::text[],
                        \(errorKinds.map(Nullable.init))::text[], \(giveBack)::bool[], \(unknown)::bool[], \(metadata)::text[])
                 AS u(id, attempt, state, delay, result, error, error_kind, give_back, unknown, metadata)
            WHERE j.id = u.id AND j.attempt = u.attempt AND j.state = 'running' AND j.locked_by = \(workerID)
            RETURNING j.id
            """)
        return Set(try rows.map { try $0.decode(Int64.self, at: 0) })
    }

    /// Puts jobs this worker could not finish (shutdown) back in the queue without consuming the
    /// attempt, recording that their outcome is unknown.
    @discardableResult
    public func returnToQueue(_ jobs: [(id: Int64, attempt: Int)], workerID: String, reason: String) async throws
        -> Set<Int64>
    {
        guard !jobs.isEmpty else { return [] }
        let rows = try await pool.query(
            """
            UPDATE switchboard.jobs j SET
                state = 'available', run_at = now(), attempt = j.attempt - 1, outcome_unknown = true,
                locked_by = NULL, locked_until = NULL,
                errors = j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'error', \(reason)::text, 'kind', 'interrupted'))
            FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.attempt))::int[]) AS u(id, attempt)
            WHERE j.id = u.id AND j.attempt = u.attempt AND j.state = 'running' AND j.locked_by = \(workerID)
            RETURNING j.id
            """)
        return Set(try rows.map { try $0.decode(Int64.self, at: 0) })
    }

    // MARK: maintenance

    /// Jobs whose lease expired (their worker died or stalled) go back to the queue, or to
    /// `failed` when that was their last attempt. Their outcome is recorded as unknown.
    /// Returns (rescued, failed) counts.
    public func rescueExpired(limit: Int = 1000) async throws -> (rescued: Int, failed: Int) {
        let rows = try await pool.query(
            """
            WITH expired AS (
                SELECT id FROM switchboard.jobs
                WHERE state = 'running' AND locked_until < now()
                ORDER BY locked_until LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE switchboard.jobs j SET
                state = CASE WHEN j.attempt >= j.max_attempts THEN 'failed'::switchboard.job_state ELSE 'available' END,
                finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                run_at = now(), outcome_unknown = true, locked_by = NULL, locked_until = NULL,
                errors = j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'kind', 'unknown_outcome',
                    'error', 'lease expired: worker ' || j.locked_by || ' stopped heartbeating; outcome unknown'))
            FROM expired WHERE j.id = expired.id
            RETURNING j.state::text
            """)
        let failed = try rows.filter { try $0.decode(String.self, at: 0) == "failed" }.count
        return (rows.count - failed, failed)
    }

    /// Scheduled jobs that have come due become available, the longest due first, at most
    /// `limit` per call, with one NOTIFY per queue that received any (not one per job). Any number
    /// of stagers at once is safe: each skips the rows another is promoting. Returns how many were
    /// promoted and how long until the next scheduled job is due, by the database's clock (`nil`:
    /// none is scheduled).
    public func stageDue(limit: Int = 10_000) async throws -> (promoted: Int, nextDueIn: Duration?) {
        let promoted = try await pool.query(
            """
            WITH due AS (
                SELECT id FROM switchboard.jobs
                WHERE state = 'scheduled' AND run_at <= now()
                ORDER BY run_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), staged AS (
                UPDATE switchboard.jobs j SET state = 'available' FROM due WHERE j.id = due.id RETURNING j.queue
            ), woken AS (
                SELECT pg_notify(\(Self.notificationChannel), queue) FROM (SELECT DISTINCT queue FROM staged) q
            )
            SELECT (SELECT count(*) FROM staged), (SELECT count(*) FROM woken)
            """)
        // A statement of its own: the one above still sees the rows it promoted as scheduled.
        let next = try await pool.query(
            "SELECT extract(epoch FROM min(run_at) - now())::float8 FROM switchboard.jobs WHERE state = 'scheduled'")
        return (try promoted[0].decode(Int.self, at: 0), try next[0].decode(Double?.self, at: 0).map { .seconds($0) })
    }

    // MARK: helpers

    struct PlanEstimate: Decodable {
        struct Node: Decodable {
            var rows: Double
            enum CodingKeys: String, CodingKey { case rows = "Plan Rows" }
        }
        var plan: Node
        enum CodingKeys: String, CodingKey { case plan = "Plan" }
    }

    static func record(_ row: PostgresRow) throws -> JobRecord {
        let errorsJSON = try row.decode(PostgresJSON.self, at: 10)
        return JobRecord(
            id: try row.decode(Int64.self, at: 0), kind: try row.decode(String.self, at: 1),
            queue: try row.decode(String.self, at: 2), priority: try row.decode(Int.self, at: 3),
            state: try row.decode(JobState.self, at: 4),
            runAt: try row.decode(Date.self, at: 5), attempt: try row.decode(Int.self, at: 6),
            maxAttempts: try row.decode(Int.self, at: 7), payload: try row.decode(PostgresJSON.self, at: 8),
            result: try row.decode(PostgresJSON?.self, at: 9),
            errors: try errorsJSON.decode([AttemptErrorRecord].self),
            outcomeUnknown: try row.decode(Bool.self, at: 11), lockedBy: try row.decode(String?.self, at: 12),
            lockedUntil: try row.decode(Date?.self, at: 13), idempotencyKey: try row.decode(String?.self, at: 14),
            createdAt: try row.decode(Date.self, at: 15), attemptedAt: try row.decode(Date?.self, at: 16),
            finishedAt: try row.decode(Date?.self, at: 17))
    }
}
