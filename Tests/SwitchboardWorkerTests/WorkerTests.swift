import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing

/// Handlers that record every execution.
final class Probe: Sendable {
    let executions = Locked([Int64: Int]())
    let cancelled = Locked(Set<Int64>())

    var registry: HandlerRegistry {
        var registry = HandlerRegistry.standard
        registry.register("probe") { job, _ in
            self.executions.withLock { $0[job.id, default: 0] += 1 }
            let sleep = (try? job.payload.decode([String: Int].self))?["sleep_ms"] ?? 0
            do {
                try await Task.sleep(for: .milliseconds(sleep))
            } catch {
                self.cancelled.withLock { _ = $0.insert(job.id) }
                throw error
            }
            return .completed(result: #"{"done": true}"#)
        }
        return registry
    }
}

@Suite struct WorkerTests {
    @Test func processesJobsAndRecordsResults() async throws {
        try await TestDatabase.with { db in
            let probe = Probe()
            try await db.store.enqueueMany((0..<500).map { _ in NewJob(kind: "probe") })
            try await withWorker(db, handlers: probe.registry) { _ in
                #expect(await eventually { try await db.jobCount(state: "completed") == 500 })
            }
            #expect(probe.executions.value.count == 500)
            #expect(probe.executions.value.values.allSatisfy { $0 == 1 })
            let results = try await db.integer(
                "SELECT count(*) FROM switchboard.all_jobs WHERE result = '{\"done\": true}'")
            #expect(results == 500)
        }
    }

    /// Issue 15, item 3: a worker process's archiver moves finished jobs out of the hot table
    /// while it works; every job stays readable with its result, and the hot table ends empty.
    @Test func finishedJobsLeaveTheHotTableWhileTheWorkerRuns() async throws {
        try await TestDatabase.with { db in
            let probe = Probe()
            try await db.store.enqueueMany((0..<300).map { _ in NewJob(kind: "probe") })
            try await withWorker(
                db, handlers: probe.registry,
                configure: {
                    $0.archiveAfter = .zero
                    $0.archiveInterval = .milliseconds(100)
                }
            ) { _ in
                #expect(await eventually { try await db.integer("SELECT count(*) FROM switchboard.jobs") == 0 })
            }
            #expect(try await db.integer("SELECT count(*) FROM switchboard.job_history") == 300)
            #expect(
                try await db.integer("SELECT count(*) FROM switchboard.all_jobs WHERE result = '{\"done\": true}'")
                    == 300)
            #expect(try await db.store.countByState() == [.completed: 300])
        }
    }

    /// A scheduled job (outside the claim path) is made available by the worker process's stager
    /// when it comes due, and the stager wakes the worker: with an hour-long poll, nothing else
    /// would. Never before its time; on time within the stage interval (1 s) and a busy machine.
    @Test(.wallClockLane, .tags(.wallClock)) func aScheduledJobRunsWhenDue() async throws {
        try await TestDatabase.with { db in
            try await withWorker(db, configure: { $0.pollInterval = .seconds(3600) }) { _ in
                let id = Int64(
                    try await db.integer(
                        """
                        INSERT INTO switchboard.jobs (kind, state, run_at)
                        VALUES ('noop', 'scheduled', now() + interval '1500 milliseconds') RETURNING id
                        """))
                #expect(try await db.store.job(id: id)?.state == .scheduled)
                #expect(await eventually(timeout: .seconds(30)) { try await db.store.job(id: id)?.state == .completed })
                let job = try #require(try await db.store.job(id: id))
                let late = try #require(job.attemptedAt).timeIntervalSince(job.runAt)
                #expect(late >= 0 && late < 3, "started \(late) s after its time")
            }
        }
    }

    @Test func wakesOnNotifyWithoutWaitingForThePoll() async throws {
        try await TestDatabase.with { db in
            try await withWorker(db, configure: { $0.pollInterval = .seconds(3600) }) { _ in
                // Wait until the worker listens, then enqueue: only the notification can wake it.
                #expect(
                    await eventually {
                        try await db.integer(
                            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                        ) == 1
                    })
                let job = try await db.store.enqueue(NewJob(kind: "noop"))
                #expect(
                    await eventually(timeout: .seconds(30)) { try await db.store.job(id: job.id)?.state == .completed })
            }
        }
    }

    @Test func pollOnlyModeNeedsNoListen() async throws {
        try await TestDatabase.with { db in
            try await withWorker(
                db,
                configure: {
                    $0.listen = false; $0.pollInterval = .milliseconds(100)
                }
            ) { _ in
                try await db.store.enqueueMany((0..<50).map { _ in NewJob(kind: "noop") })
                #expect(await eventually { try await db.jobCount(state: "completed") == 50 })
                let listeners = try await db.integer(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()")
                #expect(listeners == 0)
            }
        }
    }

    @Test func failingJobsAreRetriedThenFail() async throws {
        try await TestDatabase.with { db in
            let retried = try await db.store.enqueue(
                NewJob(kind: "noop", payload: PostgresJSON(text: #"{"fail": "twilio said 500"}"#), maxAttempts: 3))
            let permanent = try await db.store.enqueue(
                NewJob(
                    kind: "noop", payload: PostgresJSON(text: #"{"fail": "invalid number", "permanent": true}"#),
                    maxAttempts: 3))
            try await withWorker(
                db,
                configure: {
                    $0.retryPolicy = RetryPolicy(
                        base: .milliseconds(20), cap: .milliseconds(50), minimum: .milliseconds(1))
                }
            ) { _ in
                #expect(await eventually { try await db.jobCount(state: "failed") == 2 })
            }
            let retriedRecord = try #require(try await db.store.job(id: retried.id))
            #expect(retriedRecord.attempt == 3)
            #expect(retriedRecord.errors.map(\.error) == Array(repeating: "twilio said 500", count: 3))
            let permanentRecord = try #require(try await db.store.job(id: permanent.id))
            #expect(permanentRecord.attempt == 1)
            #expect(permanentRecord.errors.map(\.kind) == ["permanent"])
        }
    }

    /// What the database keeps of an interrupted attempt; `WorkerRuntimeTests` check the timing
    /// of the shutdown itself without a database.
    @Test func gracefulShutdownFinishesQuickJobsAndReturnsTheRest() async throws {
        try await TestDatabase.with { db in
            let probe = Probe()
            let slow = try await db.store.enqueue(
                NewJob(kind: "probe", payload: PostgresJSON(text: #"{"sleep_ms": 600000}"#)))
            let quick = try await db.store.enqueue(
                NewJob(kind: "probe", payload: PostgresJSON(text: #"{"sleep_ms": 100}"#)))
            var configuration = WorkerConfiguration()
            configuration.shutdownGracePeriod = .seconds(5)
            var logger = Logger(label: "test.worker")
            logger.logLevel = .warning
            let worker = try Worker(
                store: db.store, handlers: probe.registry, configuration: configuration, logger: logger)
            let running = Task { try await worker.run() }
            #expect(await eventually { probe.executions.value.count == 2 })
            worker.beginShutdown()
            try await running.value
            let quickRecord = try #require(try await db.store.job(id: quick.id))
            #expect(quickRecord.state == .completed)
            let slowRecord = try #require(try await db.store.job(id: slow.id))
            #expect(slowRecord.state == .available)
            #expect(slowRecord.attempt == 0)
            #expect(slowRecord.outcomeUnknown)
            #expect(slowRecord.errors.map(\.kind) == ["interrupted"])
            #expect(probe.cancelled.value == [slow.id])
        }
    }

    @Test func aLostLeaseCancelsTheRunningHandler() async throws {
        try await TestDatabase.with { db in
            let probe = Probe()
            let job = try await db.store.enqueue(
                NewJob(kind: "probe", payload: PostgresJSON(text: #"{"sleep_ms": 600000}"#)))
            try await withWorker(
                db, handlers: probe.registry,
                configure: {
                    $0.lease = .seconds(2)
                    $0.heartbeatInterval = .milliseconds(200)
                }
            ) { _ in
                #expect(await eventually { probe.executions.value[job.id] == 1 })
                // Another worker rescued and re-claimed it (as if this one had stalled).
                try await db.pool.query(
                    "UPDATE switchboard.jobs SET locked_by = 'other', attempt = 2 WHERE id = \(job.id)")
                #expect(await eventually { probe.cancelled.value.contains(job.id) })
            }
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.state == .running)
            #expect(record.lockedBy == "other")
        }
    }

    @Test func rescuesJobsOfDeadWorkers() async throws {
        try await TestDatabase.with { db in
            let job = try await db.store.enqueue(NewJob(kind: "noop"))
            _ = try await db.store.claim(
                queue: "default", kinds: ["noop"], limit: 1, workerID: "dead", lease: .seconds(1))
            try await withWorker(db) { _ in
                #expect(await eventually { try await db.store.job(id: job.id)?.state == .completed })
            }
            let record = try #require(try await db.store.job(id: job.id))
            #expect(record.attempt == 2)
            #expect(record.errors.map(\.kind) == ["unknown_outcome"])
        }
    }

    @Test func invalidSettingsAreRefusedByName() async throws {
        try await TestDatabase.with { db in
            var configuration = WorkerConfiguration()
            configuration.heartbeatInterval = .seconds(50)
            let error = #expect(throws: InputError.self) {
                try Worker(store: db.store, configuration: configuration, logger: Logger(label: "t"))
            }
            #expect(error?.field == "heartbeat_interval")
            configuration = WorkerConfiguration()
            configuration.queues = ["Bad Queue"]
            #expect(
                throws: InputError(
                    field: "queues", problem: "'Bad Queue' must start with a lower-case letter")
            ) {
                try Worker(store: db.store, configuration: configuration, logger: Logger(label: "t"))
            }
        }
    }
}
