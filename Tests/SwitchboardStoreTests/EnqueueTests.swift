import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

@Suite struct EnqueueTests {
    @Test func enqueueStoresEveryField() async throws {
        try await TestDatabase.with { db in
            let runAt = Date().addingTimeInterval(3600)
            let job = NewJob(
                kind: "sms", payload: PostgresJSON(text: #"{"to": "+15551234567"}"#), queue: "marketing", priority: 5,
                runAt: runAt, maxAttempts: 3, idempotencyKey: "order-1")
            let enqueued = try await db.store.enqueue(job)
            #expect(!enqueued.existing)
            let record = try #require(try await db.store.job(id: enqueued.id))
            #expect(record.kind == "sms")
            #expect(record.queue == "marketing")
            #expect(record.priority == 5)
            // An hour ahead: past the scheduling horizon, out of the claim path.
            #expect(record.state == .scheduled)
            #expect(abs(record.runAt.timeIntervalSince(runAt)) < 0.001)
            #expect(record.maxAttempts == 3)
            #expect(record.attempt == 0)
            #expect(try record.payload.decode([String: String].self) == ["to": "+15551234567"])
            #expect(record.idempotencyKey == "order-1")
            #expect(record.errors.isEmpty)
        }
    }

    @Test(arguments: [
        (NewJob(kind: "Bad Kind"), "kind"),
        (NewJob(kind: "sms", queue: ""), "queue"),
        (NewJob(kind: "sms", priority: -1), "priority"),
        (NewJob(kind: "sms", maxAttempts: 0), "max_attempts"),
        (NewJob(kind: "sms", idempotencyKey: ""), "idempotency_key"),
        (NewJob(kind: "sms", payload: PostgresJSON(text: "[1, 2]")), "payload"),
        (NewJob(kind: "sms", payload: PostgresJSON(text: "{not json")), "payload"),
    ])
    func badInputIsRefusedBeforeAnythingIsWritten(job: NewJob, field: String) async throws {
        try await TestDatabase.with { db in
            let error = await #expect(throws: InputError.self) { try await db.store.enqueue(job) }
            #expect(error?.field == field)
            let count = try await db.jobCount()
            #expect(count == 0)
        }
    }

    @Test func theSQLFunctionWorksInsideTheProducersTransaction() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE orders (id int)")
            // Committed together with the producer's own write...
            try await db.pool.transaction { connection in
                try await connection.query("INSERT INTO orders VALUES (1)")
                try await connection.query("SELECT * FROM switchboard.enqueue('sms', '{\"order\": 1}')")
            }
            // ...and rolled back together with it.
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await db.pool.transaction { connection in
                    try await connection.query("INSERT INTO orders VALUES (2)")
                    try await connection.query("SELECT * FROM switchboard.enqueue('sms', '{\"order\": 2}')")
                    throw Abort()
                }
            }
            let payloads = try await db.pool.query("SELECT payload->>'order' FROM switchboard.all_jobs").map {
                try $0.decode(String.self, at: 0)
            }
            #expect(payloads == ["1"])
            // Plain SQL producers get the same checks.
            let error = await #expect(throws: PostgresError.self) {
                try await db.pool.query("SELECT * FROM switchboard.enqueue('sms', '[1]')")
            }
            #expect(error?.message.contains("payload") == true)
            let kindError = await #expect(throws: PostgresError.self) {
                try await db.pool.query("INSERT INTO switchboard.jobs (kind) VALUES ('Not A Kind')")
            }
            #expect(kindError?.sqlState == "23514")
        }
    }

    @Test func anIdempotencyKeyReturnsTheLiveJob() async throws {
        try await TestDatabase.with { db in
            let first = try await db.store.enqueue(NewJob(kind: "sms", idempotencyKey: "k"))
            let second = try await db.store.enqueue(NewJob(kind: "sms", idempotencyKey: "k"))
            #expect(second == EnqueuedJob(id: first.id, existing: true))
            // Once the job finished, the key is free again.
            try await db.pool.query(
                "UPDATE switchboard.jobs SET state = 'completed', finished_at = now() WHERE id = \(first.id)")
            let third = try await db.store.enqueue(NewJob(kind: "sms", idempotencyKey: "k"))
            #expect(!third.existing)
            #expect(third.id != first.id)
        }
    }

    @Test func concurrentEnqueuesWithOneKeyCreateOneJob() async throws {
        try await TestDatabase.with(poolSize: 10) { db in
            let results = try await withThrowingTaskGroup(of: EnqueuedJob.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await db.store.enqueue(NewJob(kind: "sms", idempotencyKey: "same")) }
                }
                return try await group.reduce(into: [EnqueuedJob]()) { $0.append($1) }
            }
            #expect(Set(results.map(\.id)).count == 1)
            #expect(results.filter { !$0.existing }.count == 1)
            #expect(
                try await db.pool.query("SELECT count(*) FROM switchboard.all_jobs").firstRow().decode(Int.self, at: 0)
                    == 1
            )
        }
    }

    @Test func copyLoadsAHundredThousandJobs() async throws {
        try await TestDatabase.with { db in
            let jobs = (0..<100_000).map {
                NewJob(kind: "noop", payload: PostgresJSON(text: "{\"n\": \($0), \"note\": \"tab\\there\"}"))
            }
            let inserted = try await db.store.enqueueMany(jobs)
            #expect(inserted == 100_000)
            let row = try await db.pool.query(
                "SELECT count(*), count(DISTINCT payload->>'n'), min(payload->>'note') FROM switchboard.all_jobs WHERE state = 'available'"
            )[0]
            #expect(try row.decode(Int.self, at: 0) == 100_000)
            #expect(try row.decode(Int.self, at: 1) == 100_000)
            #expect(try row.decode(String.self, at: 2) == "tab\there")
        }
    }

    @Test func copySkipsKeysThatAreAlreadyLive() async throws {
        try await TestDatabase.with { db in
            try await db.store.enqueue(NewJob(kind: "sms", idempotencyKey: "a"))
            let inserted = try await db.store.enqueueMany([
                NewJob(kind: "sms", idempotencyKey: "a"), NewJob(kind: "sms", idempotencyKey: "b"),
                NewJob(kind: "sms", idempotencyKey: "b"), NewJob(kind: "sms"), NewJob(kind: "sms"),
            ])
            #expect(inserted == 3)
            #expect(
                try await db.pool.query("SELECT count(*) FROM switchboard.all_jobs").firstRow().decode(Int.self, at: 0)
                    == 4
            )
        }
    }

    @Test func copyRefusesTheWholeBatchWhenOneJobIsBad() async throws {
        try await TestDatabase.with { db in
            let jobs = [NewJob(kind: "sms"), NewJob(kind: "sms", priority: 5000), NewJob(kind: "sms")]
            let error = await #expect(throws: JobStore.BulkValidationError.self) {
                try await db.store.enqueueMany(jobs)
            }
            #expect(error?.index == 1)
            #expect(error?.description == "job 2: priority: 5000 is outside 0…1000")
            let count = try await db.jobCount()
            #expect(count == 0)
        }
    }

    @Test func oneNotificationPerTransactionAndQueue() async throws {
        try await TestDatabase.with { db in
            var iterator = PostgresListener(configuration: db.configuration, channels: [JobStore.notificationChannel])
                .makeAsyncIterator()
            let collected = Locked([String]())
            let listening = Task {
                while let event = try await iterator.next() {
                    if case .notification(let n) = event { collected.withLock { $0.append(n.payload) } }
                }
            }
            _ = await eventually {
                try await db.pool.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()")[
                        0
                    ].decode(Int.self, at: 0) > 0
            }
            try await db.pool.transaction { connection in
                for n in 0..<50 {
                    try await connection.query(
                        "SELECT * FROM switchboard.enqueue('noop', queue => \(n % 2 == 0 ? "a" : "b"))")
                }
            }
            try await db.store.enqueueMany((0..<1000).map { _ in NewJob(kind: "noop", queue: "a") })
            // Scheduled for later: no wake-up.
            try await db.store.enqueue(NewJob(kind: "noop", queue: "c", runAt: Date().addingTimeInterval(600)))
            try await db.pool.query("SELECT pg_notify('switchboard_jobs', 'end')")
            #expect(await eventually { collected.value.last == "end" })
            listening.cancel()
            #expect(collected.value.sorted() == ["a", "a", "b", "end"])
        }
    }
}

/// Issue 11 §5: an infinite run_at made `status`, the dashboard and every /metrics scrape fail.
@Suite struct RunAtBoundsTests {
    @Test(arguments: ["-infinity", "infinity", "5000-01-01", "0001-01-01", "1969-12-31"])
    func enqueueRefusesTimesThatAreNotASchedule(runAt: String) async throws {
        try await TestDatabase.with { db in
            let error = await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    "SELECT * FROM switchboard.enqueue('noop', '{}'::jsonb, run_at => \(runAt)::timestamptz)")
            }
            #expect(error?.message.hasPrefix("run_at: ") == true, "\(String(describing: error))")
            // A plain INSERT (or COPY) is held by the table's own check.
            await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    "INSERT INTO switchboard.jobs (kind, run_at) VALUES ('noop', \(runAt)::timestamptz)")
            }
            let count = try await db.jobCount()
            #expect(count == 0)
        }
    }

    @Test func operatorReadingsCopeWithTheOldestAndFurthestAllowedTimes() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query(
                """
                INSERT INTO switchboard.jobs (kind, run_at)
                VALUES ('noop', '1970-01-01 00:00:01+00'), ('noop', '2199-12-31 00:00:00+00')
                """)
            let operations = OperationsStore(pool: db.pool)
            let counts = try await operations.queueCounts()
            #expect(counts.reduce(0) { $0 + $1.count } == 2)
            try await DashboardStore(pool: db.pool).sampleQueueDepth()
            let enqueued = try await db.store.enqueue(NewJob(kind: "noop", runAt: Date(timeIntervalSince1970: 1)))
            #expect(!enqueued.existing)
        }
    }
}
