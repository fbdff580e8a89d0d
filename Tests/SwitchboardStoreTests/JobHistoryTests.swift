import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

/// Issue 15, item 3: finished jobs leave the hot table for `job_history` and stay readable.
@Suite struct JobHistoryTests {
    /// Enqueues `count` noop jobs and finishes them as `state`, `minutesAgo` minutes ago.
    func finishedJobs(
        _ db: TestDatabase, _ count: Int, as state: JobState, minutesAgo: Int, result: String? = nil
    ) async throws -> [Int64] {
        var ids: [Int64] = []
        for _ in 0..<count { ids.append(try await db.store.enqueue(NewJob(kind: "noop")).id) }
        try await db.pool.query(
            """
            UPDATE switchboard.jobs SET state = \(state.rawValue)::switchboard.job_state, attempt = 1,
                finished_at = now() - make_interval(mins => \(minutesAgo)), result = \(result)::jsonb,
                errors = CASE WHEN \(state.rawValue) = 'failed'
                              THEN '[{"attempt": 1, "at": "2026-12-06T00:00:00Z", "error": "twilio 21211: invalid To", "kind": "failed"}]'::jsonb
                              ELSE '[]' END
            WHERE id = ANY(\(ids)::bigint[])
            """)
        return ids
    }

    func hotCount(_ db: TestDatabase) async throws -> Int {
        try await db.integer("SELECT count(*) FROM switchboard.jobs")
    }

    func historyCount(_ db: TestDatabase) async throws -> Int {
        try await db.integer("SELECT count(*) FROM switchboard.job_history")
    }

    @Test func finishedJobsMoveOnceAndStayReadable() async throws {
        try await TestDatabase.with { db in
            let completed = try await finishedJobs(
                db, 3, as: .completed, minutesAgo: 5, result: #"{"messageSid": "SM1"}"#)
            let failed = try await finishedJobs(db, 1, as: .failed, minutesAgo: 2)
            let recent = try await finishedJobs(db, 1, as: .completed, minutesAgo: 0)
            let waiting = try await db.store.enqueue(NewJob(kind: "noop")).id

            #expect(try await db.store.archive(finishedMoreThan: .seconds(60)) == 4)
            #expect(try await db.store.archive(finishedMoreThan: .seconds(60)) == 0, "each job moves once")
            #expect(try await hotCount(db) == 2, "the one finished just now and the one waiting stay")
            #expect(try await historyCount(db) == 4)

            let archived = try #require(try await db.store.job(id: completed[0]))
            #expect(archived.state == .completed)
            #expect(archived.attempt == 1)
            #expect(try archived.result?.decode([String: String].self) == ["messageSid": "SM1"])
            #expect(
                try #require(try await db.store.job(id: failed[0])).errors.map(\.error) == ["twilio 21211: invalid To"])
            #expect(try await db.store.job(id: waiting)?.state == .available)

            let listed = try await db.store.list(JobStore.JobFilter())
            #expect(listed.map(\.id) == (completed + failed + recent + [waiting]).sorted(by: >))
            let failedListed = try await db.store.list(JobStore.JobFilter(states: [.failed]))
            #expect(failedListed.map(\.id) == failed)

            let counts = try await db.store.countByState()
            #expect(counts == [.completed: 4, .failed: 1, .available: 1])
        }
    }

    @Test func aStatusArrivingAfterTheMoveMergesIntoTheArchivedResult() async throws {
        try await TestDatabase.with { db in
            let id = try await finishedJobs(db, 1, as: .completed, minutesAgo: 5, result: #"{"messageSid": "SM1"}"#)[0]
            _ = try await db.store.archive(finishedMoreThan: .seconds(60))
            let found = try await db.pool.withConnection {
                try await JobStore.mergeResult(
                    jobID: id, under: .object(["messageSid": .string("ignored")]),
                    over: .object(["messageStatus": .string("delivered")]), on: $0)
            }
            #expect(found)
            let result = try #require(try await db.store.job(id: id)?.result)
            #expect(try result.decode([String: String].self) == ["messageSid": "SM1", "messageStatus": "delivered"])
            let missing = try await db.pool.withConnection {
                try await JobStore.mergeResult(jobID: id + 1000, over: .object([:]), on: $0)
            }
            #expect(!missing)
        }
    }

    @Test func aStatusMergeWaitingOnTheMoveFindsTheJobInHistory() async throws {
        try await TestDatabase.with { db in
            let id = try await finishedJobs(db, 1, as: .completed, minutesAgo: 5)[0]
            // The archiver's move holds the row; a merge started meanwhile waits, then finds the
            // row gone from the hot table and merges into history instead of losing the status.
            let mover = try await db.pool.withConnection { connection in
                try await connection.query("BEGIN")
                try await connection.query(
                    """
                    WITH moved AS (DELETE FROM switchboard.jobs WHERE id = \(id) RETURNING *)
                    INSERT INTO switchboard.job_history (id, kind, queue, priority, state, run_at, attempt,
                        max_attempts, payload, result, errors, outcome_unknown, idempotency_key, created_at,
                        attempted_at, finished_at, metadata)
                    SELECT id, kind, queue, priority, state, run_at, attempt, max_attempts, payload, result, errors,
                           outcome_unknown, idempotency_key, created_at, attempted_at, finished_at, metadata FROM moved
                    """)
                let merge = Task {
                    try await db.pool.withConnection {
                        try await JobStore.mergeResult(
                            jobID: id, over: .object(["messageStatus": .string("delivered")]), on: $0)
                    }
                }
                try await Task.sleep(for: .milliseconds(200))
                try await connection.query("COMMIT")
                return try await merge.value
            }
            #expect(mover)
            let result = try #require(try await db.store.job(id: id)?.result)
            #expect(try result.decode([String: String].self) == ["messageStatus": "delivered"])
        }
    }

    @Test func retryingAnArchivedJobBringsItBackUnderItsID() async throws {
        try await TestDatabase.with { db in
            let failed = try await finishedJobs(db, 2, as: .failed, minutesAgo: 5)
            let completed = try await finishedJobs(db, 1, as: .completed, minutesAgo: 5)
            _ = try await db.store.archive(finishedMoreThan: .seconds(60))

            #expect(try await db.store.retry(ids: [failed[0], completed[0]]) == [failed[0]])
            let back = try #require(try await db.store.job(id: failed[0]))
            #expect(back.state == .available)
            #expect(back.maxAttempts >= 2)
            #expect(back.errors.count == 1, "its history of attempts comes with it")
            #expect(try await hotCount(db) == 1)
            #expect(try await db.store.countByState() == [.available: 1, .failed: 1, .completed: 1])
            let claimed = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 10, workerID: "w", lease: .seconds(30))
            #expect(claimed.map(\.id) == [failed[0]])
        }
    }

    @Test func thePrunerDropsWholeDaysPastTheRetentionAndTheArchiverSkipsWhatHasNoDay() async throws {
        try await TestDatabase.with { db in
            // Finished three days ago: into the partition of everything before the migration's day.
            let old = try await finishedJobs(db, 2, as: .completed, minutesAgo: 3 * 24 * 60)
            let today = try await finishedJobs(db, 1, as: .completed, minutesAgo: 5)
            #expect(try await db.store.archive(finishedMoreThan: .seconds(60)) == 3)

            // A retention of one second: the partition before today has ended that long ago.
            let pruned = try await db.store.prune(olderThan: .seconds(1))
            #expect(pruned.droppedPartitions.count == 1)
            #expect(pruned.droppedPartitions.first?.hasPrefix("job_history_before_") == true)
            #expect(try await db.store.job(id: old[0]) == nil)
            #expect(try await db.store.job(id: today[0])?.state == .completed, "today's partition stays")

            // Nothing left to hold a job finished that long ago: the archiver leaves it (no
            // batch fails for want of a partition) and the pruner deletes it.
            let stray = try await finishedJobs(db, 1, as: .cancelled, minutesAgo: 3 * 24 * 60)
            #expect(try await db.store.archive(finishedMoreThan: .seconds(60)) == 0)
            #expect(try await db.store.prune(olderThan: .seconds(1)).deleted == 1)
            #expect(try await db.store.job(id: stray[0]) == nil)
            // Partitions ahead are made from the last one on.
            #expect(try await db.store.createHistoryPartitions(daysAhead: 4) == 2)
            #expect(try await db.store.createHistoryPartitions(daysAhead: 4) == 0)
        }
    }

    /// Item 5: `jobs counts` reads at most the cap's worth of each state's index, and says which
    /// counts are estimates.
    @Test func stateCountsPastTheCapAreEstimatesAndSaidToBe() async throws {
        try await TestDatabase.with { db in
            try await db.store.enqueueMany((0..<50).map { _ in NewJob(kind: "noop") })
            _ = try await finishedJobs(db, 2, as: .failed, minutesAgo: 0)
            try await db.pool.query("ANALYZE switchboard.jobs")
            let (counts, approximate) = try await db.store.stateCounts(exactUpTo: 10)
            #expect(approximate == [.available])
            #expect(counts[.available].map { $0 > 10 } == true)
            #expect(counts[.failed] == 2)
        }
    }

    @Test func purgeDeletesFromHistoryToo() async throws {
        try await TestDatabase.with { db in
            _ = try await finishedJobs(db, 3, as: .failed, minutesAgo: 90)
            let kept = try await finishedJobs(db, 1, as: .completed, minutesAgo: 90)
            _ = try await finishedJobs(db, 1, as: .failed, minutesAgo: 90)
            _ = try await db.store.archive(finishedMoreThan: .seconds(3600), limit: 2)
            #expect(try await historyCount(db) == 2)
            #expect(try await db.store.purge(states: [.failed], olderThan: .seconds(3600)) == 4)
            #expect(try await db.store.countByState() == [.completed: 1])
            #expect(try await db.store.job(id: kept[0])?.state == .completed)
        }
    }
}
