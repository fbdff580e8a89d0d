import Foundation
import Postgres
import SwitchboardCore
import Synchronization
import TestSupport
import Testing

@testable import SwitchboardStore

/// Issue 15, item 1: only work that can start soon is in the claim path.
@Suite struct SchedulingTests {
    let lease = Duration.seconds(30)

    @Test func theHorizonIsTheSameInSwiftAndInTheSchema() async throws {
        try await TestDatabase.with { db in
            let seconds = try await db.integer(
                "SELECT extract(epoch FROM switchboard.scheduling_horizon())::integer")
            #expect(Duration.seconds(seconds) == JobState.schedulingHorizon)
        }
    }

    @Test func jobsDatedPastTheHorizonAreScheduledHoweverTheyAreInserted() async throws {
        try await TestDatabase.with { db in
            let later = Date().addingTimeInterval(3600)
            let soon = Date().addingTimeInterval(2)
            // enqueue() (the SQL function under the Swift API)
            let viaFunction = try await db.store.enqueue(NewJob(kind: "noop", runAt: later)).id
            let soonViaFunction = try await db.store.enqueue(NewJob(kind: "noop", runAt: soon)).id
            // COPY (the Swift API's bulk path), with and without idempotency keys
            try await db.store.enqueueMany([
                NewJob(kind: "copied", runAt: later), NewJob(kind: "copied", runAt: soon), NewJob(kind: "copied"),
            ])
            try await db.store.enqueueMany([
                NewJob(kind: "keyed", runAt: later, idempotencyKey: "k1"), NewJob(kind: "keyed", idempotencyKey: "k2"),
            ])
            // A producer's plain INSERT, many rows in one statement
            try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, run_at)
                SELECT 'inserted', now() + g * interval '1 hour' FROM generate_series(0, 2) g
                """)
            let states = try await db.pool.query(
                "SELECT kind, state::text, count(*)::int FROM switchboard.all_jobs GROUP BY 1, 2 ORDER BY 1, 2"
            ).map {
                "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1)) \(try $0.decode(Int.self, at: 2))"
            }
            #expect(
                states == [
                    "copied available 2", "copied scheduled 1", "inserted available 1", "inserted scheduled 2",
                    "keyed available 1", "keyed scheduled 1", "noop available 1", "noop scheduled 1",
                ])
            #expect(try await db.store.job(id: viaFunction)?.state == .scheduled)
            #expect(try await db.store.job(id: soonViaFunction)?.state == .available)
        }
    }

    @Test func anIdempotencyKeyStaysUniqueWhileItsJobIsScheduled() async throws {
        try await TestDatabase.with { db in
            let later = Date().addingTimeInterval(3600)
            let first = try await db.store.enqueue(NewJob(kind: "noop", runAt: later, idempotencyKey: "order-7"))
            let again = try await db.store.enqueue(NewJob(kind: "noop", idempotencyKey: "order-7"))
            #expect(again.existing && again.id == first.id)
            #expect(try await db.store.enqueueMany([NewJob(kind: "noop", idempotencyKey: "order-7")]) == 0)
            // A producer's INSERT written for the index as it was (live = available or running)
            // still finds its arbiter: that predicate implies the new one.
            let inserted = try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, idempotency_key) VALUES ('noop', 'order-7')
                ON CONFLICT (idempotency_key) WHERE state IN ('available', 'running') DO NOTHING
                """
            ).affectedRows
            #expect(inserted == 0)
            #expect(try await db.jobCount() == 1)
        }
    }

    @Test func aClaimDoesNotSeeScheduledJobs() async throws {
        try await TestDatabase.with { db in
            let later = try await db.store.enqueue(
                NewJob(kind: "noop", priority: 0, runAt: Date().addingTimeInterval(60))
            ).id
            let now = try await db.store.enqueue(NewJob(kind: "noop", priority: 500)).id
            let claimed = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 10, workerID: "w", lease: lease)
            #expect(claimed.map(\.id) == [now])
            #expect(try await db.store.job(id: later)?.state == .scheduled)
        }
    }

    @Test func aClaimTakesTheBestJobsAcrossTheKindsItHandles() async throws {
        try await TestDatabase.with { db in
            var expected: [Int64] = []
            for (kind, priority) in [("sms", 50), ("voice", 10), ("sms", 10), ("other", 0), ("voice", 90)] {
                let id = try await db.store.enqueue(NewJob(kind: kind, priority: priority)).id
                if kind != "other" { expected.append(id) }
            }
            let claimed = try await db.store.claim(
                queue: "default", kinds: ["sms", "voice"], limit: 3, workerID: "w", lease: lease)
            // Priority 10 (voice, then sms by run_at and id), then sms at 50; voice at 90 waits.
            #expect(Set(claimed.map(\.id)) == Set([expected[1], expected[2], expected[0]]))
            #expect(try await db.store.job(id: expected[3])?.state == .available)
            #expect(try await db.jobCount(state: "running") == 3)
        }
    }

    /// The claim's cost does not depend on what else is queued: with 20,000 jobs of a kind this
    /// worker does not handle and 20,000 scheduled ones, all at a better priority than the due
    /// job, the claim's plan reads only the rows it claims (counted by PostgreSQL's EXPLAIN
    /// ANALYZE, not timed). Before, it walked all 40,000.
    @Test func aClaimReadsNoJobOfAnotherKindAndNoScheduledJob() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, priority, run_at)
                SELECT CASE WHEN g % 2 = 0 THEN 'unhandled' ELSE 'noop' END, 0,
                       CASE WHEN g % 2 = 0 THEN now() ELSE now() + interval '1 hour' END
                FROM generate_series(1, 40000) g
                """)
            for _ in 0..<5 { try await db.store.enqueue(NewJob(kind: "noop", priority: 100)) }
            try await db.pool.query("ANALYZE switchboard.jobs")
            let statement = JobStore.claimStatement(
                queue: "default", kinds: ["noop", "sms"], limit: 100, workerID: "w", lease: lease)
            let plan = try await db.pool.query(
                PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, binds: statement.binds)
            ).firstRow().decode(String.self, at: 0)
            let read = try Self.rowsRead(plan)
            #expect(read.scanned <= 10, "scans read \(read.scanned) rows: \(read.nodes)")
            #expect(try await db.jobCount(state: "running") == 5)
        }
    }

    @Test func theStagerMakesDueJobsAvailableWithOneNotificationPerQueue() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, queue, state, run_at)
                SELECT 'noop', CASE WHEN g % 2 = 0 THEN 'default' ELSE 'bulk' END, 'scheduled', now() - interval '1 second'
                FROM generate_series(1, 3000) g
                """)
            try await db.pool.query(
                "INSERT INTO switchboard.jobs (kind, state, run_at) VALUES ('noop', 'scheduled', now() + interval '90 seconds')"
            )
            let heard = Mutex<[String]>([])
            let listener = Task {
                for try await event in PostgresListener(
                    configuration: db.configuration, channels: [JobStore.notificationChannel])
                {
                    if case .notification(let notification) = event {
                        heard.withLock { $0.append(notification.payload) }
                    }
                }
            }
            defer { listener.cancel() }
            #expect(await db.listening(on: JobStore.notificationChannel))

            let first = try await db.store.stageDue(limit: 2000)
            #expect(first.promoted == 2000)
            let second = try await db.store.stageDue(limit: 2000)
            #expect(second.promoted == 1000)
            let next = try #require(second.nextDueIn)
            #expect(next > .seconds(80) && next <= .seconds(90))
            #expect(try await db.jobCount(state: "available") == 3000)
            #expect(try await db.jobCount(state: "scheduled") == 1)
            let idle = try await db.store.stageDue(limit: 2000)
            #expect(idle.promoted == 0)

            // Our own notification after the stager's: once it arrives, theirs have too.
            try await db.pool.query("SELECT pg_notify(\(JobStore.notificationChannel), 'end')")
            #expect(await eventually { heard.withLock { $0.last == "end" } })
            let notified = heard.withLock { $0.dropLast() }
            // One per queue per batch: 4, not 3,000.
            #expect(notified.sorted() == ["bulk", "bulk", "default", "default"])
            let claimed = try await db.store.claim(
                queue: "bulk", kinds: ["noop"], limit: 2000, workerID: "w", lease: lease)
            #expect(claimed.count == 1500)
        }
    }

    @Test func twoStagersNeverPromoteTheSameJobTwice() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, state, run_at)
                SELECT 'noop', 'scheduled', now() - interval '1 second' FROM generate_series(1, 5000) g
                """)
            let promoted = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var total = 0
                        while true {
                            let staged = try await db.store.stageDue(limit: 300).promoted
                            if staged == 0 { return total }
                            total += staged
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(promoted == 5000)
            #expect(try await db.jobCount(state: "available") == 5000)
        }
    }

    @Test func retriesAndSnoozesPastTheHorizonWaitOutsideTheClaimPath() async throws {
        try await TestDatabase.with { db in
            let ids = try await (0..<3).asyncMap { _ in try await db.store.enqueue(NewJob(kind: "noop")).id }
            let claimed = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 3, workerID: "w", lease: lease)
            #expect(claimed.count == 3)
            let policy = RetryPolicy()
            try await db.store.finish(
                [
                    JobFinish(
                        id: ids[0], attempt: 1,
                        transition: .after(
                            .snoozed(delay: .seconds(600)), attempt: 1, maxAttempts: 5, policy: policy, unitRandom: 0)),
                    JobFinish(
                        id: ids[1], attempt: 1,
                        transition: .after(
                            .snoozed(delay: .seconds(1)), attempt: 1, maxAttempts: 5, policy: policy, unitRandom: 0)),
                    JobFinish(
                        id: ids[2], attempt: 1,
                        transition: JobTransition(
                            state: .scheduled, delay: .seconds(30), error: "twilio 500", errorKind: .error)),
                ], workerID: "w")
            let states = try await ids.asyncMap { try #require(try await db.store.job(id: $0)) }
            #expect(states.map(\.state) == [.scheduled, .available, .scheduled])
            #expect(states[0].runAt.timeIntervalSinceNow > 590)
            #expect(states[2].runAt.timeIntervalSinceNow > 25)
            #expect(states[0].attempt == 0 && states[2].attempt == 1)
        }
    }

    /// Rows read by the plan's scan nodes (returned plus removed by a filter, over all loops).
    static func rowsRead(_ planJSON: String) throws -> (scanned: Int, nodes: [String]) {
        let parsed = try JSONSerialization.jsonObject(with: Data(planJSON.utf8)) as? [[String: Any]]
        var scanned = 0
        var nodes: [String] = []
        func visit(_ node: [String: Any]) {
            let type = node["Node Type"] as? String ?? "?"
            if type.hasSuffix("Scan"), type != "Function Scan", type != "CTE Scan", type != "Subquery Scan" {
                let loops = node["Actual Loops"] as? Int ?? 1
                let rows = (node["Actual Rows"] as? Int ?? 0) + (node["Rows Removed by Filter"] as? Int ?? 0)
                scanned += rows * loops
                nodes.append(
                    "\(type) on \(node["Index Name"] as? String ?? node["Relation Name"] as? String ?? "?"): \(rows)×\(loops)"
                )
            }
            for child in node["Plans"] as? [[String: Any]] ?? [] { visit(child) }
        }
        for entry in parsed ?? [] { if let plan = entry["Plan"] as? [String: Any] { visit(plan) } }
        return (scanned, nodes)
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
