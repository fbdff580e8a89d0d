import Foundation
import Postgres
import SwitchboardStore
import TestSupport
import Testing

/// What `status` and the metrics say about the queue table's health: dead rows vacuum has not
/// reclaimed, and the oldest transaction holding vacuum back; warnings as an operator would give.
@Suite struct QueueHealthTests {
    /// Each unfinished state is counted exactly up to the cap and estimated past it, so a scrape
    /// never reads millions of scheduled jobs; the other states stay exact per queue and kind.
    @Test func aStatePastTheCapIsEstimatedTheOthersCounted() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, queue, run_at)
                SELECT 'noop', 'bulk', now() + interval '1 day' FROM generate_series(1, 500)
                """)
            try await db.store.enqueue(NewJob(kind: "sms"))
            try await db.store.enqueue(NewJob(kind: "sms", queue: "bulk"))
            try await db.pool.query("ANALYZE switchboard.jobs")
            let operations = OperationsStore(pool: db.pool)
            let counts = try await operations.queueCounts(exactUpTo: 100)
            let scheduled = try #require(counts.first { $0.state == "scheduled" })
            #expect(scheduled.approximate && scheduled.queue == "*" && scheduled.kind == "*")
            // ANALYZE read every row of so small a table: the estimate is the count.
            #expect(scheduled.count == 500, "\(scheduled)")
            var availableQueues: [String] = []
            for count in counts where count.state == "available" {
                availableQueues.append(count.queue)
                #expect(!count.approximate && count.count == 1 && count.oldestDueAge != nil, "\(count)")
            }
            #expect(availableQueues == ["bulk", "default"], "\(counts)")
            let exact = try await operations.queueCounts()
            let counted = try #require(exact.first { $0.state == "scheduled" })
            #expect(counted.queue == "bulk" && counted.kind == "noop" && counted.count == 500 && !counted.approximate)
        }
    }

    @Test func deadRowsAndALongTransactionAreSeen() async throws {
        try await TestDatabase.with { db in
            let operations = OperationsStore(pool: db.pool)
            try await db.pool.query(
                "INSERT INTO switchboard.jobs (kind, payload) SELECT 'noop', '{}' FROM generate_series(1, 2000)")
            try await db.pool.query("DELETE FROM switchboard.jobs")
            // PostgreSQL publishes a session's table statistics within about a second.
            let counted = await eventually(timeout: .seconds(15)) {
                try await operations.queueHealth().deadTuples >= 2000
            }
            let seen = try await operations.queueHealth()
            #expect(counted, "\(seen)")

            let holding = Gate()
            let release = Gate()
            let holder = Task {
                try await db.pool.transaction { connection in
                    try await connection.query("INSERT INTO switchboard.jobs (kind, payload) VALUES ('noop', '{}')")
                    holding.open()
                    await release.wait()
                }
            }
            await holding.wait()
            try await Task.sleep(for: .milliseconds(1200))
            let health = try await operations.queueHealth()
            release.open()
            try await holder.value
            #expect(health.oldestTransactionAge >= 1 && health.oldestTransactionPID != nil, "\(health)")
        }
    }

    @Test func warningsOnlyWhenAnOperatorShouldAct() {
        var health = OperationsStore.QueueHealth(
            liveTuples: 1_000_000, deadTuples: 150_000, oldestTransactionAge: 20, oldestTransactionPID: 42,
            oldestTransactionApplication: "psql", lastAutovacuum: nil)
        #expect(health.warnings.isEmpty, "15% dead, a 20 s transaction: normal")
        health.deadTuples = 300_000
        health.oldestTransactionAge = 900
        #expect(health.warnings.count == 2, "\(health.warnings)")
        #expect(health.warnings.contains { $0.contains("vacuum is behind") })
        #expect(health.warnings.contains { $0.contains("open for 900 s (pid 42, psql)") })
        health.liveTuples = 0
        health.deadTuples = 50_000
        health.oldestTransactionAge = 0
        #expect(health.warnings.isEmpty, "a small table's dead rows are vacuum's business")
    }
}
