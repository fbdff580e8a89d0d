import Logging
import ServiceLifecycle
import ServiceTask
import SwitchboardStore
import Synchronization

/// Makes jobs whose lease expired (their worker died or lost the database) available again, or
/// fails those out of attempts: River's `JobRescuer`, Oban's `Lifeline`. Every worker process
/// runs one; the statement is guarded, so several at once are harmless.
public struct Rescuer: Service {
    public static let batchLimit = 1000

    let queue: any JobQueue
    let interval: Duration
    let logger: Logger
    /// Called when jobs became available, so a worker looks for them at once.
    let onRescued: @Sendable () -> Void

    public init(
        queue: some JobQueue, interval: Duration, logger: Logger, onRescued: @escaping @Sendable () -> Void = {}
    ) {
        self.queue = queue
        self.interval = interval
        self.logger = logger
        self.onRescued = onRescued
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "rescuing jobs failed") {
            let (rescued, failed) = try await queue.rescueExpired(limit: Self.batchLimit)
            if rescued + failed > 0 {
                logger.notice(
                    "rescued jobs whose lease expired", metadata: ["rescued": "\(rescued)", "failed": "\(failed)"])
            }
            if rescued > 0 { onRescued() }
            return rescued + failed >= Self.batchLimit
        }
    }
}

/// Makes scheduled jobs available when they come due: Oban's `Stager`, River's `JobScheduler`.
/// Jobs due later than the scheduling horizon (retries with long backoff, long snoozes, sends
/// dated later) wait outside the claim path; this service promotes them in batches, waking
/// workers once per queue, and sleeps until the next one is due (read from the database, on its
/// clock) or for `interval` at most, so a job scheduled meanwhile is seen well before it is due
/// (the horizon is longer than any sensible interval). Every worker process runs one; several
/// at once skip each other's rows.
public struct Stager: Service {
    public static let batchLimit = 10_000

    let queue: any JobQueue
    let interval: Duration
    let logger: Logger
    /// Called when jobs became available, so this process's worker claims them at once.
    let onStaged: @Sendable () -> Void

    public init(
        queue: some JobQueue, interval: Duration, logger: Logger, onStaged: @escaping @Sendable () -> Void = {}
    ) {
        self.queue = queue
        self.interval = interval
        self.logger = logger
        self.onStaged = onStaged
    }

    public func run() async throws {
        await repeatUntilShutdown(pausingAfterFailure: interval, logger: logger, failure: "staging jobs failed") {
            let (promoted, nextDueIn) = try await queue.stageDue(limit: Self.batchLimit)
            if promoted > 0 {
                logger.debug("scheduled jobs came due", metadata: ["count": "\(promoted)"])
                onStaged()
            }
            return Self.pause(promoted: promoted, nextDueIn: nextDueIn, interval: interval)
        }
    }

    /// How long to wait before the next pass: none after a full batch (more are due), else until
    /// the next job is due, within [`minimumPause`, `interval`]. The minimum keeps a row that is
    /// due but held by another stager from turning this loop into a busy one.
    static func pause(promoted: Int, nextDueIn: Duration?, interval: Duration) -> Duration {
        if promoted >= batchLimit { return .zero }
        guard let nextDueIn else { return interval }
        return min(max(nextDueIn, minimumPause), interval)
    }

    static let minimumPause: Duration = .milliseconds(5)
}

/// Moves finished jobs out of the hot table into `job_history` once they have been finished for
/// `age` (a minute by default: long enough for a program woken by a NOTIFY to read the job where
/// it was, short enough that the table the claim path works in stays small), in batches, one
/// archiver at a time across all hosts. It also keeps `job_history`'s daily partitions created
/// two days ahead. Hatchet's and Oban Pro's design; River and Oban only delete.
public struct Archiver: Service {
    public static let batchLimit = 10_000
    /// How often the partitions ahead are checked (creating one takes a brief lock, so well
    /// ahead of the day that needs it).
    static let partitionCheckInterval: Duration = .seconds(600)

    let queue: any JobQueue
    let age: Duration
    let interval: Duration
    let logger: Logger

    public func run() async throws {
        let clock = ContinuousClock()
        let checked = Mutex<ContinuousClock.Instant?>(nil)
        await repeatUntilShutdown(every: interval, logger: logger, failure: "archiving jobs failed") {
            if checked.withLock({ $0.map { clock.now - $0 >= Self.partitionCheckInterval } ?? true }) {
                let made = try await queue.createHistoryPartitions(daysAhead: 2)
                if made > 0 { logger.info("created job history partitions", metadata: ["count": "\(made)"]) }
                checked.withLock { $0 = clock.now }
            }
            let moved = try await queue.archive(finishedMoreThan: age, limit: Self.batchLimit)
            if moved > 0 { logger.debug("moved finished jobs to history", metadata: ["count": "\(moved)"]) }
            return moved >= Self.batchLimit
        }
    }
}

/// Removes finished jobs older than the retention: whole days of `job_history` (a dropped
/// partition leaves nothing for vacuum to do) and, in bounded batches, any still in the hot
/// table. River's `JobCleaner`, Oban's `Pruner`.
public struct Pruner: Service {
    public static let batchLimit = 10_000

    let queue: any JobQueue
    let retention: Duration
    let interval: Duration
    let logger: Logger

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "pruning jobs failed") {
            let pruned = try await queue.prune(olderThan: retention, limit: Self.batchLimit)
            if pruned.deleted > 0 { logger.info("pruned finished jobs", metadata: ["count": "\(pruned.deleted)"]) }
            for partition in pruned.droppedPartitions {
                logger.info("dropped a day of job history", metadata: ["partition": "\(partition)"])
            }
            return pruned.deleted >= Self.batchLimit
        }
    }
}

extension Worker {
    /// The maintenance services a process runs beside this worker, on its queue and as its
    /// configuration asks: the rescuer and the stager (each wakes the worker when it made jobs
    /// available), the archiver (unless turned off) and, with a retention, the pruner.
    public func maintenanceServices() -> [any Service] {
        var services: [any Service] = [
            Rescuer(queue: queue, interval: configuration.rescueInterval, logger: logger, onRescued: { self.wake() }),
            Stager(queue: queue, interval: configuration.stageInterval, logger: logger, onStaged: { self.wake() }),
        ]
        if let age = configuration.archiveAfter {
            services.append(
                Archiver(queue: queue, age: age, interval: configuration.archiveInterval, logger: logger))
        }
        if let retention = configuration.retention {
            services.append(
                Pruner(queue: queue, retention: retention, interval: configuration.pruneInterval, logger: logger))
        }
        return services
    }
}
