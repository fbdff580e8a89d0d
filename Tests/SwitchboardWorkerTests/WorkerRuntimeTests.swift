import Logging
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import Synchronization
import TestSupport
import Testing

/// The worker's runtime against an in-memory queue: no database, and no test waits for a timer
/// longer than a few milliseconds (poll intervals are an hour, so only the runtime's own events
/// can move it).
@Suite(.timeLimit(.minutes(1))) struct WorkerRuntimeTests {
    /// Handlers whose jobs wait for the test: `hold` runs until cancelled, `flaky` fails its first
    /// attempt, `swallow` ends with `CancellationError` when cancelled.
    final class Handlers: Sendable {
        let started = Locked([Int64]())
        let cancelled = Locked(Set<Int64>())

        var registry: HandlerRegistry {
            var registry = HandlerRegistry.standard
            registry.register("hold") { job, _ in
                self.started.withLock { $0.append(job.id) }
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    self.cancelled.withLock { _ = $0.insert(job.id) }
                    throw error
                }
                return .completed(result: nil)
            }
            registry.register("flaky") { job, _ in
                self.started.withLock { $0.append(job.id) }
                return job.attempt == 1
                    ? .failed(error: "first attempt fails", permanent: false) : .completed(result: nil)
            }
            return registry
        }
    }

    func worker(
        _ queue: InMemoryJobQueue, _ handlers: Handlers, configure: (inout WorkerConfiguration) -> Void = { _ in }
    ) throws -> Worker {
        var configuration = WorkerConfiguration()
        configuration.pollInterval = .seconds(3600)
        configuration.listen = true
        configuration.retention = nil
        configure(&configuration)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        return try Worker(store: queue, handlers: handlers.registry, configuration: configuration, logger: logger)
    }

    /// What a handler is told about its lease (the fence a send checks) moves only with
    /// heartbeats that got through: while they fail, it stays where the last one left it.
    @Test func theLeaseAHandlerCanCountOnMovesOnlyWithHeartbeatsThatGetThrough() async throws {
        let queue = InMemoryJobQueue()
        let context = Locked<JobContext?>(nil)
        var registry = HandlerRegistry()
        registry.register("watch") { _, jobContext in
            context.withLock { $0 = jobContext }
            try await Task.sleep(for: .seconds(3600))
            return .completed(result: nil)
        }
        var configuration = WorkerConfiguration()
        configuration.pollInterval = .seconds(3600)
        configuration.lease = .seconds(30)
        configuration.heartbeatInterval = .milliseconds(10)
        configuration.shutdownGracePeriod = .milliseconds(10)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let worker = try Worker(store: queue, handlers: registry, configuration: configuration, logger: logger)
        let claimedBefore = ContinuousClock.now
        queue.add(kind: "watch")
        let running = Task { try await worker.run() }
        #expect(await eventually { context.withLock { $0 } != nil })
        let handed = try #require(context.withLock { $0 })
        let atClaim = handed.leaseHeldUntil()
        #expect(atClaim >= claimedBefore + .seconds(30) && atClaim <= .now + .seconds(30))
        #expect(handed.leaseOutlasts(.seconds(20)) && !handed.leaseOutlasts(.seconds(30)))

        let calls = { queue.state.withLock { $0.heartbeatCalls } }
        #expect(await eventually { handed.leaseHeldUntil() > atClaim }, "a heartbeat renewed it")
        queue.state.withLock { $0.heartbeatsFail = true }
        let failingFrom = calls() + 1  // one may have been past the check already
        #expect(await eventually { calls() > failingFrom })
        let lastRenewed = handed.leaseHeldUntil()
        let later = calls()
        #expect(await eventually { calls() >= later + 3 })
        #expect(handed.leaseHeldUntil() == lastRenewed, "failed heartbeats extend nothing")

        queue.state.withLock { $0.heartbeatsFail = false }
        #expect(await eventually { handed.leaseHeldUntil() > lastRenewed }, "renewed again once they get through")
        worker.beginShutdown()
        try await running.value
    }

    @Test func jobsRunOnceInBatchesNoLargerThanTheFreeCapacity() async throws {
        let queue = InMemoryJobQueue()
        queue.add(kind: "noop", count: 300)
        let worker = try worker(queue, Handlers()) {
            $0.concurrency = 20
            $0.batchSize = 8
        }
        let running = Task { try await worker.run() }
        #expect(await eventually { queue.count(.completed) == 300 })
        worker.beginShutdown()
        try await running.value
        #expect(queue.claims.allSatisfy { $0.limit <= 8 })
        #expect(queue.state.withLock { $0.jobs.values.allSatisfy { $0.attempt == 1 } })
        #expect(worker.recordedFinishes == 300)
    }

    @Test func aNotificationForAConfiguredQueueWakesTheWorkerAndOthersDoNot() async throws {
        let queue = InMemoryJobQueue()
        let worker = try worker(queue, Handlers()) { $0.queues = ["mine"] }
        let running = Task { try await worker.run() }
        #expect(await eventually { queue.claims.count == 1 }, "the first round at start")
        queue.add(kind: "noop", queue: "theirs")
        let mine = queue.add(kind: "noop", queue: "mine")[0]
        #expect(await eventually { queue.job(mine)?.state == .completed })
        worker.beginShutdown()
        try await running.value
        #expect(queue.claims.allSatisfy { $0.queue == "mine" })
    }

    /// Also when the finish is written after the retry's delay has passed (a slow database): the
    /// retry is due from its write, which is when its run_at is set.
    @Test(arguments: [Duration.zero, .milliseconds(150)])
    func aRetryRunsWhenItIsDueWithoutAPollOrANotification(finishDelay: Duration) async throws {
        let queue = InMemoryJobQueue()
        queue.state.withLock { $0.finishDelay = finishDelay }
        let handlers = Handlers()
        let worker = try worker(queue, handlers) {
            $0.listen = false
            $0.retryPolicy = RetryPolicy(base: .milliseconds(20), cap: .milliseconds(50), minimum: .milliseconds(10))
        }
        let id = queue.add(kind: "flaky")[0]
        let running = Task { try await worker.run() }
        #expect(await eventually { queue.job(id)?.state == .completed })
        worker.beginShutdown()
        try await running.value
        #expect(queue.job(id)?.attempt == 2)
        #expect(queue.job(id)?.errors == ["first attempt fails"])
    }

    @Test func shutdownLetsQuickJobsFinishAndReturnsTheRestWhenTheGracePeriodEnds() async throws {
        let queue = InMemoryJobQueue()
        let handlers = Handlers()
        let held = queue.add(kind: "hold")[0]
        let quick = queue.add(kind: "noop")[0]
        let worker = try worker(queue, handlers) { $0.shutdownGracePeriod = .milliseconds(50) }
        let running = Task { try await worker.run() }
        #expect(await eventually { handlers.started.value == [held] && queue.job(quick)?.state == .completed })
        worker.beginShutdown()
        #expect(worker.isShuttingDown)
        try await running.value
        #expect(handlers.cancelled.value == [held])
        let record = try #require(queue.job(held))
        #expect(record.state == .available)
        #expect(record.attempt == 0, "an interrupted attempt is not counted")
        #expect(record.returnedToQueue == 1)
        #expect(record.errors.isEmpty, "the cancellation is not a failed attempt")
    }

    @Test func aWorkerThatIsCancelledRecordsNoFailedAttempt() async throws {
        let queue = InMemoryJobQueue()
        let handlers = Handlers()
        let held = queue.add(kind: "hold")[0]
        let worker = try worker(queue, handlers)
        let running = Task { try await worker.run() }
        #expect(await eventually { handlers.started.value == [held] })
        running.cancel()
        try await running.value
        #expect(handlers.cancelled.value == [held])
        let record = try #require(queue.job(held))
        #expect(record.errors.isEmpty)
        #expect(record.state != .failed)
        #expect(record.attempt <= 1)
    }

    @Test func aLostLeaseCancelsTheHandlerAndItsOutcomeIsNotWritten() async throws {
        let queue = InMemoryJobQueue()
        let handlers = Handlers()
        let held = queue.add(kind: "hold")[0]
        let worker = try worker(queue, handlers) {
            $0.lease = .seconds(1)
            $0.heartbeatInterval = .milliseconds(10)
        }
        let running = Task { try await worker.run() }
        #expect(await eventually { handlers.started.value == [held] })
        queue.steal(held)
        #expect(await eventually { handlers.cancelled.value == [held] })
        #expect(await eventually { worker.runningCount == 0 })
        worker.beginShutdown()
        try await running.value
        let record = try #require(queue.job(held))
        #expect(record.state == .running)
        #expect(record.lockedBy == "another worker")
        #expect(record.returnedToQueue == 0)
    }

    @Test func theRescuerGoesOnAtOnceAfterAFullBatchAndWakesTheWorker() async throws {
        let queue = InMemoryJobQueue()
        queue.state.withLock { $0.rescueAnswers = [Rescuer.batchLimit, Rescuer.batchLimit, 3] }
        let wakes = Locked(0)
        let rescuer = Rescuer(
            queue: queue, interval: .seconds(3600), logger: Logger(label: "test"),
            onRescued: { wakes.withLock { $0 += 1 } })
        let running = Task { try await rescuer.run() }
        // Two full batches, the short third, then it sleeps for the hour.
        #expect(await eventually { queue.state.withLock { $0.rescueCalls } == 3 })
        running.cancel()
        try await running.value
        #expect(queue.state.withLock { $0.rescueCalls } == 3)
        #expect(wakes.value == 3)
    }
}
