import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

@Suite struct QueueTests {
    let lease = Duration.seconds(30)

    @Test func claimsInPriorityThenRunAtThenIdOrder() async throws {
        try await TestDatabase.with { db in
            let past = Date().addingTimeInterval(-60)
            let a = try await db.store.enqueue(NewJob(kind: "noop", priority: 100, runAt: past))
            let b = try await db.store.enqueue(NewJob(kind: "noop", priority: 1))
            let c = try await db.store.enqueue(NewJob(kind: "noop", priority: 100, runAt: past.addingTimeInterval(-10)))
            let d = try await db.store.enqueue(NewJob(kind: "noop", priority: 100, runAt: past))
            try await db.store.enqueue(NewJob(kind: "noop", runAt: Date().addingTimeInterval(3600)))  // not yet due
            try await db.store.enqueue(NewJob(kind: "noop", queue: "other"))  // another queue
            try await db.store.enqueue(NewJob(kind: "sms"))  // a kind this worker does not handle
            var order: [Int64] = []
            for _ in 0..<5 {
                let claimed = try await db.store.claim(
                    queue: "default", kinds: ["noop"], limit: 1, workerID: "w", lease: lease)
                order += claimed.map(\.id)
            }
            #expect(order == [b.id, c.id, a.id, d.id])
        }
    }

    @Test func claimingSetsTheLease() async throws {
        try await TestDatabase.with { db in
            let job = try await db.store.enqueue(NewJob(kind: "noop"))
            let claimed = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 10, workerID: "w1", lease: lease)
            #expect(claimed.map(\.id) == [job.id])
            #expect(claimed[0].attempt == 1)
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.state == .running)
            #expect(record.lockedBy == "w1")
            let remaining = try #require(record.lockedUntil).timeIntervalSince(try #require(record.attemptedAt))
            #expect(abs(remaining - 30) < 1)
        }
    }

    @Test func eightConcurrentClaimersClaimEachJobOnce() async throws {
        try await TestDatabase.with(poolSize: 10) { db in
            try await db.store.enqueueMany((0..<5000).map { _ in NewJob(kind: "noop") })
            let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let batch = try await db.store.claim(
                                queue: "default", kinds: ["noop"], limit: 37, workerID: "w\(worker)",
                                lease: .seconds(60))
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: [[Int64]]()) { $0.append($1) }
            }
            let all = claims.flatMap { $0 }
            #expect(all.count == 5000)
            #expect(Set(all).count == 5000)
            #expect(claims.filter { !$0.isEmpty }.count > 1, "the claimers really ran concurrently")
            let running = try await db.jobCount(state: "running")
            #expect(running == 5000)
        }
    }

    @Test func finishesAreBatchedAndGuarded() async throws {
        try await TestDatabase.with { db in
            try await db.store.enqueueMany((0..<4).map { _ in NewJob(kind: "noop") })
            let jobs = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 4, workerID: "me", lease: lease)
            let done = JobTransition(state: .completed, result: #"{"ok": true}"#)
            let applied = try await db.store.finish(
                [
                    JobFinish(id: jobs[0].id, attempt: 1, transition: done),
                    JobFinish(id: jobs[1].id, attempt: 2, transition: done),  // wrong attempt
                    JobFinish(
                        id: jobs[2].id, attempt: 1,
                        transition: JobTransition(state: .failed, error: "bad number", errorKind: .permanent)),
                ], workerID: "me")
            #expect(applied == [jobs[0].id, jobs[2].id])
            // Another worker (a stale one) cannot finish what "me" holds.
            let stale = try await db.store.finish(
                [JobFinish(id: jobs[3].id, attempt: 1, transition: done)], workerID: "someone-else")
            #expect(stale.isEmpty)
            let first = try #require(try await db.store.job(id: jobs[0].id))
            #expect(first.state == .completed)
            #expect(first.result?.text == #"{"ok": true}"#)
            #expect(first.finishedAt != nil)
            #expect(first.lockedBy == nil)
            let failed = try #require(try await db.store.job(id: jobs[2].id))
            #expect(failed.state == .failed)
            #expect(failed.errors.map(\.error) == ["bad number"])
            #expect(failed.errors.map(\.kind) == ["permanent"])
            for id in [jobs[1].id, jobs[3].id] {
                #expect(try await db.store.job(id: id)?.state == .running)
            }
            // Finishing twice changes nothing the second time.
            #expect(
                try await db.store.finish([JobFinish(id: jobs[0].id, attempt: 1, transition: done)], workerID: "me")
                    .isEmpty)
        }
    }

    @Test func retriesBackOffAndKeepEveryError() async throws {
        try await TestDatabase.with { db in
            let policy = RetryPolicy(base: .seconds(10), cap: .seconds(100))
            let job = try await db.store.enqueue(NewJob(kind: "noop", maxAttempts: 3))
            for attempt in 1...3 {
                // Time passes: the backoff is over and the stager has made the job available.
                try await db.pool.query(
                    "UPDATE switchboard.jobs SET run_at = now(), state = 'available' WHERE id = \(job.id)")
                let claimed = try await db.store.claim(
                    queue: "default", kinds: ["noop"], limit: 1, workerID: "w", lease: lease)
                #expect(claimed.first?.attempt == attempt)
                let transition = JobTransition.after(
                    .failed(error: "twilio 500 (try \(attempt))", permanent: false), attempt: attempt, maxAttempts: 3,
                    policy: policy, unitRandom: 1)
                try await db.store.finish(
                    [JobFinish(id: job.id, attempt: attempt, transition: transition)], workerID: "w")
                let record = try #require(try await db.store.job(id: job.id))
                if attempt < 3 {
                    // Tens of seconds away: past the scheduling horizon.
                    #expect(record.state == .scheduled)
                    let wait = record.runAt.timeIntervalSinceNow
                    let expected = policy.ceiling(afterAttempt: attempt).seconds
                    #expect(wait > expected - 2 && wait <= expected + 1, "attempt \(attempt): waits \(wait)s")
                } else {
                    #expect(record.state == .failed)
                    #expect(record.finishedAt != nil)
                }
            }
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.errors.map(\.error) == ["twilio 500 (try 1)", "twilio 500 (try 2)", "twilio 500 (try 3)"])
            #expect(record.errors.map(\.attempt) == [1, 2, 3])
        }
    }

    @Test func snoozeDoesNotConsumeAnAttempt() async throws {
        try await TestDatabase.with { db in
            let job = try await db.store.enqueue(NewJob(kind: "noop", maxAttempts: 1))
            _ = try await db.store.claim(queue: "default", kinds: ["noop"], limit: 1, workerID: "w", lease: lease)
            let snooze = JobTransition.after(
                .snoozed(delay: .seconds(5)), attempt: 1, maxAttempts: 1, policy: RetryPolicy(), unitRandom: 0)
            try await db.store.finish([JobFinish(id: job.id, attempt: 1, transition: snooze)], workerID: "w")
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.state == .available)
            #expect(record.attempt == 0)
            #expect(record.errors.isEmpty)
            #expect(record.runAt.timeIntervalSinceNow > 3)
        }
    }

    @Test func cancelIsTerminal() async throws {
        try await TestDatabase.with { db in
            let job = try await db.store.enqueue(NewJob(kind: "noop"))
            _ = try await db.store.claim(queue: "default", kinds: ["noop"], limit: 1, workerID: "w", lease: lease)
            let cancel = JobTransition.after(
                .cancelled(reason: "campaign cancelled"), attempt: 1, maxAttempts: 5, policy: RetryPolicy(),
                unitRandom: 0)
            try await db.store.finish([JobFinish(id: job.id, attempt: 1, transition: cancel)], workerID: "w")
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.state == .cancelled)
            #expect(record.errors.map(\.kind) == ["cancelled"])
        }
    }

    @Test func expiredLeasesAreRescuedWithAnUnknownOutcome() async throws {
        try await TestDatabase.with { db in
            let retry = try await db.store.enqueue(NewJob(kind: "noop", maxAttempts: 5))
            let last = try await db.store.enqueue(NewJob(kind: "noop", maxAttempts: 1))
            let healthy = try await db.store.enqueue(NewJob(kind: "noop"))
            _ = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 3, workerID: "dead-worker", lease: lease)
            // The dead worker's heartbeat stopped: its leases run out (time moved forward).
            try await db.pool.query(
                "UPDATE switchboard.jobs SET locked_until = now() - interval '1 second' WHERE id IN (\(retry.id), \(last.id))"
            )
            let (rescued, failed) = try await db.store.rescueExpired()
            #expect(rescued == 1)
            #expect(failed == 1)
            let again = try #require(try await db.store.job(id: retry.id))
            #expect(again.state == .available)
            #expect(again.outcomeUnknown)
            #expect(again.lockedBy == nil)
            #expect(again.errors.map(\.kind) == ["unknown_outcome"])
            #expect(again.errors.first?.error.contains("dead-worker") == true)
            #expect(try await db.store.job(id: last.id)?.state == .failed)
            #expect(try await db.store.job(id: healthy.id)?.state == .running)
            // The next claim tells the handler that the previous attempt's outcome is unknown.
            let reclaimed = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 5, workerID: "w2", lease: lease)
            #expect(reclaimed.map(\.id) == [retry.id])
            #expect(reclaimed.first?.previousOutcomeUnknown == true)
            #expect(reclaimed.first?.attempt == 2)
            // The dead worker, if it comes back, cannot finish it.
            let stale = try await db.store.finish(
                [JobFinish(id: retry.id, attempt: 1, transition: JobTransition(state: .completed))],
                workerID: "dead-worker")
            #expect(stale.isEmpty)
        }
    }

    @Test func heartbeatsExtendOnlyLeasesStillHeld() async throws {
        try await TestDatabase.with { db in
            try await db.store.enqueueMany([NewJob(kind: "noop"), NewJob(kind: "noop")])
            let jobs = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 2, workerID: "w", lease: .seconds(5))
            // Someone else took the second job (it was rescued and re-claimed).
            try await db.pool.query("UPDATE switchboard.jobs SET locked_by = 'other' WHERE id = \(jobs[1].id)")
            let kept = try await db.store.extendLeases(
                jobs.map { ($0.id, $0.attempt) }, workerID: "w", lease: .seconds(120))
            #expect(kept == [jobs[0].id])
            let record = try #require(try await db.store.job(id: jobs[0].id))
            #expect(try #require(record.lockedUntil).timeIntervalSinceNow > 100)
        }
    }

    @Test func interruptedJobsReturnWithoutConsumingTheAttempt() async throws {
        try await TestDatabase.with { db in
            let job = try await db.store.enqueue(NewJob(kind: "noop"))
            _ = try await db.store.claim(queue: "default", kinds: ["noop"], limit: 1, workerID: "w", lease: lease)
            let returned = try await db.store.returnToQueue([(job.id, 1)], workerID: "w", reason: "shutdown")
            #expect(returned == [job.id])
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.state == .available)
            #expect(record.attempt == 0)
            #expect(record.outcomeUnknown)
            #expect(record.errors.map(\.kind) == ["interrupted"])
        }
    }

    @Test func pruningDeletesOnlyOldFinishedJobs() async throws {
        try await TestDatabase.with { db in
            try await db.store.enqueueMany((0..<6).map { _ in NewJob(kind: "noop") })
            try await db.pool.query(
                """
                UPDATE switchboard.jobs SET state = 'completed', finished_at = now() - interval '10 days' WHERE id IN (SELECT id FROM switchboard.jobs ORDER BY id LIMIT 2);
                """)
            try await db.pool.query(
                "UPDATE switchboard.jobs SET state = 'failed', finished_at = now() - interval '1 hour' WHERE id = (SELECT max(id) FROM switchboard.all_jobs)"
            )
            let pruned = try await db.store.prune(olderThan: .seconds(7 * 24 * 3600))
            #expect(pruned.deleted == 2)
            let remaining = try await db.jobCount()
            #expect(remaining == 4)
        }
    }
}
