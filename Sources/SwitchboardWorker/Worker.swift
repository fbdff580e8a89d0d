import Logging
import Metrics
import ServiceLifecycle
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// The worker runtime: claims jobs in batches sized to free capacity, runs them through their
/// handlers with bounded concurrency, keeps their leases alive and records outcomes in batches.
/// Rescuing jobs of dead workers and pruning old ones are services of their own (`Rescuer`,
/// `Pruner`); `maintenanceServices()` builds them for a process.
///
/// What to do next is decided by the pure `WorkerScheduler`; this shell performs its actions and
/// reports what happened, and sleeps on a `Doorbell` until the next due time or event (no
/// polling loop). Storage is any `JobQueue`: `JobStore` in production, an in-memory queue in the
/// runtime's own tests.
///
/// Graceful shutdown (SIGTERM/SIGINT through `ServiceGroup`): stop claiming, let running jobs
/// finish within the grace period, cancel the rest and return them to the queue.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    let queue: any JobQueue
    let handlers: HandlerRegistry
    /// The kinds this worker claims (the registry's, sorted once).
    private let kinds: [String]
    let logger: Logger
    let running = RunningJobs()
    let completer: Completer
    private let scheduler: LockedScheduler
    private let doorbell = Doorbell()
    private let metrics = JobMetrics()
    private let shuttingDown = Atomic<Bool>(false)
    /// Claims performed (for tests and the benchmark's query-rate figures).
    public let claimQueries = Atomic<Int>(0)

    public init(
        store: some JobQueue, handlers: HandlerRegistry = .standard, configuration: WorkerConfiguration,
        logger: Logger
    )
        throws
    {
        try configuration.validate()
        guard !handlers.kinds.isEmpty else {
            throw InputError(field: "handlers", problem: "no job kinds registered")
        }
        queue = store
        self.handlers = handlers
        kinds = handlers.kinds
        self.configuration = configuration
        self.logger = logger
        let settings = WorkerScheduler<ContinuousClock.Instant>.Settings(
            queues: configuration.queues, concurrency: configuration.concurrency,
            batchSize: configuration.batchSize, pollInterval: configuration.pollInterval,
            shutdownGracePeriod: configuration.shutdownGracePeriod, maxBacklog: configuration.maxBacklog,
            claimsInFlight: configuration.claimsInFlight)
        scheduler = LockedScheduler(WorkerScheduler(settings: settings, now: .now))
        let (doorbell, scheduler) = (doorbell, scheduler)
        completer = Completer(
            queue: store, workerID: configuration.workerID, logger: logger,
            onWritten: { applied in
                // A retry's run_at counts from the database's write, so its wake-up does too:
                // noted when the job ended, a slow write would make the wake-up find nothing.
                let written = ContinuousClock.now
                scheduler.withLock { scheduler in
                    for finish in applied where finish.transition.state == .available {
                        if let delay = finish.transition.delay {
                            scheduler.rescheduled(dueAt: written + delay + .milliseconds(5))
                        }
                    }
                }
                doorbell.ring()
            })
    }

    /// Runs until graceful shutdown (or cancellation).
    public func run() async throws {
        logger.info(
            "worker started",
            metadata: [
                "worker.id": "\(configuration.workerID)", "queues": "\(configuration.queues.joined(separator: ","))",
                "concurrency": "\(configuration.concurrency)", "listen": "\(configuration.listen)",
                "kinds": "\(kinds.joined(separator: ","))",
            ])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { background in
                background.addTask { await self.heartbeatLoop() }
                if configuration.listen { background.addTask { await self.listenLoop() } }
                await withTaskGroup(of: Void.self) { recording in
                    recording.addTask { await self.completer.run(giveUpAfter: self.configuration.shutdownGracePeriod) }
                    await claimAndRun()
                    doorbell.close()
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
        scheduler.withLock { $0.shutdownRequested(now: .now) }
        doorbell.ring()
    }

    public var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Attempts whose outcome this worker has written to the database (completed, failed, retried…).
    public var recordedFinishes: Int { completer.recorded.load(ordering: .relaxed) }

    /// Jobs running right now.
    public var runningCount: Int { running.count }

    /// Asks the worker to look for work now.
    public func wake() {
        scheduler.withLock { $0.woke() }
        doorbell.ring()
    }

    // MARK: claiming and running

    /// Performs the scheduler's actions until it says stop: after shutdown, once no job runs and
    /// no claim is out.
    ///
    /// Claims are child tasks (the loop goes on while they are out). Each job runs in a task of
    /// its own, not a child, so that it can be cancelled alone (a lost lease); cancelling the loop
    /// interrupts the jobs through the scheduler.
    private func claimAndRun() async {
        var cancellationNoted = false
        await withDiscardingTaskGroup { claims in
            while true {
                if !cancellationNoted, Task.isCancelled {
                    cancellationNoted = true
                    scheduler.withLock { $0.cancelled() }
                }
                let backlog = completer.backlog
                switch scheduler.withLock({ $0.next(now: .now, backlog: backlog) }) {
                case .claim(let name, let limit):
                    claimQueries.add(1, ordering: .relaxed)
                    claims.addTask { await self.claim(from: name, limit: limit) }
                case .wait(let deadline):
                    // Once cancellation is noted, only a job ending or a claim answering wakes the loop.
                    await doorbell.wait(until: deadline, cancellationWakes: !cancellationNoted)
                case .interruptRunning:
                    logger.warning(
                        "grace period over; returning unfinished jobs to the queue",
                        metadata: ["count": "\(running.count)"])
                    running.interruptAll(because: .shutdown)
                case .stop:
                    return
                }
            }
        }
    }

    /// Claims jobs, starts them and rings the loop.
    private func claim(from name: String, limit: Int) async {
        defer { doorbell.ring() }
        let claimed: [ClaimedJob]
        let asked = ContinuousClock.now
        do {
            claimed = try await queue.claim(
                queue: name, kinds: kinds, limit: limit, workerID: configuration.workerID,
                lease: configuration.lease)
        } catch {
            if !Task.isCancelled {
                logger.error("claiming jobs failed; retrying at the next poll", metadata: ["error": "\(error)"])
            }
            scheduler.withLock { $0.claimFailed(limit: limit) }
            return
        }
        // Counted before they start: a quick job may end before the loop goes on.
        scheduler.withLock { $0.claimed(claimed.count, limit: limit, queue: name) }
        for job in claimed {
            running.start(job, leaseHeldUntil: asked + configuration.lease)
            let task = Task { await self.execute(job) }
            // Interrupted before its cancel action was in place: cancel it here.
            if !running.setCancel(job.id, { task.cancel() }) { task.cancel() }
        }
    }

    private func execute(_ job: ClaimedJob) async {
        let context = JobContext(
            job: job, logger: logger, workerID: configuration.workerID,
            leaseHeldUntil: { [running] in running.leaseHeldUntil(job.id) ?? .now })
        let started = ContinuousClock.now
        let outcome = await runHandler(job, context)
        // Only an interruption cancels a job's task, and it is noted before: nil here means the
        // job ended by itself, even if a cancellation raced with its end.
        let interruption = running.end(job.id)
        metrics.duration(of: job.kind).record(duration: ContinuousClock.now - started)
        switch interruption {
        case .leaseLost:
            metrics.count(job.kind, "interrupted")
            context.logger.warning("job lease was lost while running; its outcome is not recorded")
        case .shutdown:
            metrics.count(job.kind, "interrupted")
            completer.returnToQueue(id: job.id, attempt: job.attempt)
        case nil:
            let transition = JobTransition.after(
                outcome, attempt: job.attempt, maxAttempts: job.maxAttempts, policy: configuration.retryPolicy,
                unitRandom: Double.random(in: 0..<1))  // drawn only for a retry
            if case .failed(let error, _) = outcome {
                context.logger.notice(
                    "job attempt failed",
                    metadata: ["job.attempt": "\(job.attempt)", "error": "\(error)", "next": "\(transition.state)"])
            }
            metrics.count(job.kind, outcome.metricLabel(then: transition.state))
            completer.add(JobFinish(id: job.id, attempt: job.attempt, transition: transition))
        }
        if scheduler.withLock({ $0.finished() }) { doorbell.ring() }
    }

    private func runHandler(_ job: ClaimedJob, _ context: JobContext) async -> JobOutcome {
        guard let handler = handlers.handlers[job.kind] else {
            return .failed(error: "no handler for job kind '\(job.kind)'", permanent: true)
        }
        do {
            return try await handler(job, context)
        } catch let error as PermanentJobError {
            return .failed(error: String(describing: error), permanent: true)
        } catch {
            return .failed(error: String(describing: error), permanent: false)
        }
    }

    // MARK: background loops

    private func listenLoop() async {
        let queues = Set(configuration.queues)
        do {
            try await queue.watchForWork { [logger] name in
                if let name {
                    if queues.contains(name) { self.wake() }
                } else {
                    logger.info("notification listener reconnected")
                    self.wake()
                }
            }
        } catch {
            if !Task.isCancelled {
                logger.error("LISTEN failed; relying on polling", metadata: ["error": "\(error)"])
            }
        }
    }

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            let held = running.snapshot
            guard !held.isEmpty else { continue }
            do {
                let asked = ContinuousClock.now
                let kept = try await queue.extendLeases(
                    held, workerID: configuration.workerID, lease: configuration.lease)
                running.extend(kept, leaseHeldUntil: asked + configuration.lease)
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

/// The scheduler behind a lock, shared by the loop, the jobs and the completer's callback.
final class LockedScheduler: Sendable {
    private let state: Mutex<WorkerScheduler<ContinuousClock.Instant>>

    init(_ scheduler: WorkerScheduler<ContinuousClock.Instant>) { state = Mutex(scheduler) }

    func withLock<Result>(_ body: (inout WorkerScheduler<ContinuousClock.Instant>) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}
