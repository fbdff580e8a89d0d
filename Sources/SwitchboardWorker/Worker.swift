import Logging
import Postgres
import ServiceLifecycle
import SwitchboardCore
import SwitchboardMetrics
import SwitchboardStore
import Synchronization

/// The worker runtime: claims jobs in batches sized to free capacity, runs them through their
/// handlers with bounded concurrency, keeps their leases alive, records outcomes in batches,
/// rescues jobs of dead workers and prunes old ones.
///
/// Graceful shutdown (SIGTERM/SIGINT through `ServiceGroup`): stop claiming, let running jobs
/// finish within the grace period, cancel the rest and return them to the queue.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    let store: JobStore
    let handlers: HandlerRegistry
    let logger: Logger
    let running = RunningJobs()
    let completer: Completer
    private let shuttingDown = Atomic<Bool>(false)
    /// When jobs this worker rescheduled become due, sorted (several hundred snoozed jobs each
    /// need their own wake-up, not just the earliest).
    private let dueTimes = Mutex<[ContinuousClock.Instant]>([])
    private let wakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation
    /// Claims performed (for tests and the benchmark's query-rate figures).
    public let claimQueries = Atomic<Int>(0)

    public init(
        store: JobStore, handlers: HandlerRegistry = .standard, configuration: WorkerConfiguration, logger: Logger
    )
        throws
    {
        try configuration.validate()
        guard !handlers.kinds.isEmpty else {
            throw InputError(field: "handlers", problem: "no job kinds registered")
        }
        self.store = store
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
        completer = Completer(store: store, workerID: configuration.workerID, logger: logger)
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs until graceful shutdown (or cancellation).
    public func run() async throws {
        logger.info(
            "worker started",
            metadata: [
                "worker.id": "\(configuration.workerID)", "queues": "\(configuration.queues.joined(separator: ","))",
                "concurrency": "\(configuration.concurrency)", "listen": "\(configuration.listen)",
                "kinds": "\(handlers.kinds.joined(separator: ","))",
            ])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { background in
                background.addTask { await self.heartbeatLoop() }
                background.addTask { await self.maintenanceLoop() }
                background.addTask { await self.tickLoop() }
                if configuration.listen { background.addTask { await self.listenLoop() } }
                await withTaskGroup(of: Void.self) { recording in
                    recording.addTask { await self.completer.run(giveUpAfter: self.configuration.shutdownGracePeriod) }
                    wakeupContinuation.yield()
                    await claimAndRun()
                    // Returns once the completer has written what is left.
                    completer.finishInput()
                }
                background.cancelAll()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        logger.info("worker stopped", metadata: ["worker.id": "\(configuration.workerID)"])
    }

    /// Stops claiming; running jobs get the grace period.
    public func beginShutdown() {
        guard !shuttingDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("worker shutting down", metadata: ["running": "\(running.count)"])
        wakeupContinuation.finish()
    }

    public var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Attempts whose outcome this worker has written to the database (completed, failed, retried…).
    public var recordedFinishes: Int { completer.recorded.load(ordering: .relaxed) }

    /// Jobs running right now.
    public var runningCount: Int { running.count }

    /// Asks the worker to look for work now.
    public func wake() { wakeupContinuation.yield() }

    // MARK: claiming and running

    private func claimAndRun() async {
        let kinds = handlers.kinds
        let concurrency = configuration.concurrency
        // Do not spend a query on a sliver of capacity while busy; when idle, any capacity counts.
        let threshold = max(1, min(configuration.batchSize, concurrency) / 4)
        await withDiscardingTaskGroup { group in
            for await _ in wakeups {
                var queueIndex = 0
                while !isShuttingDown, queueIndex < configuration.queues.count {
                    let free = concurrency - running.count
                    let busy = running.count > 0
                    guard free >= (busy ? threshold : 1) else { break }
                    let limit = min(free, configuration.batchSize)
                    let queue = configuration.queues[queueIndex]
                    let claimed: [ClaimedJob]
                    do {
                        claimQueries.add(1, ordering: .relaxed)
                        claimed = try await store.claim(
                            queue: queue, kinds: kinds, limit: limit, workerID: configuration.workerID,
                            lease: configuration.lease)
                    } catch {
                        logger.error("claiming jobs failed; retrying at the next poll", metadata: ["error": "\(error)"])
                        break
                    }
                    for job in claimed {
                        running.start(job)
                        group.addTask { await self.execute(job) }
                    }
                    // A short batch means this queue is drained for now: try the next one.
                    if claimed.count < limit { queueIndex += 1 }
                }
            }
            await waitForRunningJobs()
        }
    }

    /// After shutdown began: give running jobs the grace period, then cancel them.
    private func waitForRunningJobs() async {
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while running.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if running.count > 0 {
            logger.warning(
                "grace period over; returning unfinished jobs to the queue", metadata: ["count": "\(running.count)"])
            running.interruptAll(because: .shutdown)
        }
    }

    private func execute(_ job: ClaimedJob) async {
        var jobLogger = logger
        jobLogger[metadataKey: "job.id"] = "\(job.id)"
        jobLogger[metadataKey: "job.kind"] = "\(job.kind)"
        let context = JobContext(job: job, logger: jobLogger, workerID: configuration.workerID)
        let started = ContinuousClock.now
        let outcome = await runHandler(job, context)
        let interruption = running.end(job.id)
        SwitchboardMetrics.jobDuration.observe(ContinuousClock.now - started, [job.kind])
        if interruption != nil { SwitchboardMetrics.jobs.increment([job.kind, "interrupted"]) }
        wakeupContinuation.yield()
        switch interruption {
        case .leaseLost:
            jobLogger.warning("job lease was lost while running; its outcome is not recorded")
        case .shutdown:
            completer.returnToQueue(id: job.id, attempt: job.attempt)
        case nil:
            let transition = JobTransition.after(
                outcome, attempt: job.attempt, maxAttempts: job.maxAttempts, policy: configuration.retryPolicy,
                unitRandom: Double.random(in: 0..<1))
            if transition.state == .available, let delay = transition.delay {
                // Allow for the finish being written first.
                noteDue(.now + delay + .milliseconds(5))
            }
            if case .failed(let error, _) = outcome {
                jobLogger.notice(
                    "job attempt failed",
                    metadata: ["job.attempt": "\(job.attempt)", "error": "\(error)", "next": "\(transition.state)"])
            }
            SwitchboardMetrics.jobs.increment([job.kind, outcome.metricLabel(then: transition.state)])
            completer.add(JobFinish(id: job.id, attempt: job.attempt, transition: transition))
        }
    }

    private func runHandler(_ job: ClaimedJob, _ context: JobContext) async -> JobOutcome {
        guard let handler = handlers.handlers[job.kind] else {
            return .failed(error: "no handler for job kind '\(job.kind)'", permanent: true)
        }
        // An unstructured task so this one job can be cancelled (lost lease, shutdown) on its own;
        // it is awaited right here, and cancelling the worker cancels it too.
        let task = Task { try await handler(job, context) }
        guard running.setCancel(job.id, { task.cancel() }) else {
            task.cancel()
            return .cancelled(reason: "interrupted before start")
        }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch let error as PermanentJobError {
            return .failed(error: String(describing: error), permanent: true)
        } catch {
            return .failed(error: String(describing: error), permanent: false)
        }
    }

    // MARK: background loops

    /// Wakes the claim loop every poll interval, and as soon as a job this worker rescheduled
    /// (a snooze or a short retry) is due, so a job waiting for its send slot is not late by up
    /// to a poll interval.
    private func tickLoop() async {
        var lastPoll = ContinuousClock.now
        let step = min(configuration.pollInterval, .milliseconds(20))
        while !Task.isCancelled, !isShuttingDown {
            try? await Task.sleep(for: step)
            let now = ContinuousClock.now
            let due = dueTimes.withLock { times -> Bool in
                let passed = times.prefix { $0 <= now }.count
                times.removeFirst(passed)
                return passed > 0
            }
            if due || now - lastPoll >= configuration.pollInterval {
                lastPoll = now
                wakeupContinuation.yield()
            }
        }
    }

    /// Notes that a job becomes due at `instant`. Instants within 10 ms of one already noted
    /// share its wake-up.
    private func noteDue(_ instant: ContinuousClock.Instant) {
        dueTimes.withLock { times in
            var low = 0
            var high = times.count
            while low < high {
                let middle = (low + high) / 2
                if times[middle] < instant { low = middle + 1 } else { high = middle }
            }
            for index in [low - 1, low] where index >= 0 && index < times.count {
                if abs((times[index] - instant).seconds) < 0.01 { return }
            }
            times.insert(instant, at: low)
        }
    }

    private func listenLoop() async {
        let queues = Set(configuration.queues)
        let listener = PostgresListener(
            configuration: store.pool.configuration, channels: [JobStore.notificationChannel])
        do {
            for try await event in listener {
                switch event {
                case .notification(let notification):
                    if queues.contains(notification.payload) { wakeupContinuation.yield() }
                case .reconnected:
                    logger.info("notification listener reconnected")
                    wakeupContinuation.yield()
                }
            }
        } catch {
            logger.error("LISTEN failed; relying on polling", metadata: ["error": "\(error)"])
        }
    }

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            let held = running.snapshot
            guard !held.isEmpty else { continue }
            do {
                let kept = try await store.extendLeases(
                    held, workerID: configuration.workerID, lease: configuration.lease)
                let lost = held.map(\.id).filter { !kept.contains($0) }
                if !lost.isEmpty {
                    logger.warning("lost the lease of running jobs; cancelling them", metadata: ["jobs": "\(lost)"])
                    running.interrupt(lost, because: .leaseLost)
                }
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func maintenanceLoop() async {
        var lastPrune = ContinuousClock.now - configuration.pruneInterval
        while !Task.isCancelled {
            do {
                let (rescued, failed) = try await store.rescueExpired()
                if rescued + failed > 0 {
                    logger.notice(
                        "rescued jobs whose lease expired", metadata: ["rescued": "\(rescued)", "failed": "\(failed)"])
                    wakeupContinuation.yield()
                }
                if let retention = configuration.retention,
                    ContinuousClock.now - lastPrune >= configuration.pruneInterval
                {
                    lastPrune = .now
                    let pruned = try await store.prune(olderThan: retention)
                    if pruned > 0 { logger.info("pruned finished jobs", metadata: ["count": "\(pruned)"]) }
                }
            } catch {
                if !Task.isCancelled { logger.warning("maintenance failed", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: configuration.rescueInterval)
        }
    }
}

extension JobOutcome {
    /// The `outcome` label of `switchboard_jobs_total`: completed, failed (for good), retried,
    /// snoozed, cancelled or outcome_unknown.
    func metricLabel(then state: JobState) -> String {
        switch (self, state) {
        case (.completed, _): "completed"
        case (.snoozed, _): "snoozed"
        case (_, .failed): "failed"
        case (_, .cancelled): "cancelled"
        case (.outcomeUnknown, _): "outcome_unknown"
        default: "retried"
        }
    }
}
