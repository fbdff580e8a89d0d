import Logging
import ServiceLifecycle
import ServiceTask
import SwitchboardStore

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

/// Deletes finished jobs older than the retention, in bounded batches: River's `JobCleaner`,
/// Oban's `Pruner`.
public struct Pruner: Service {
    public static let batchLimit = 10_000

    let queue: any JobQueue
    let retention: Duration
    let interval: Duration
    let logger: Logger

    public init(queue: some JobQueue, retention: Duration, interval: Duration, logger: Logger) {
        self.queue = queue
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "pruning jobs failed") {
            let pruned = try await queue.prune(olderThan: retention, limit: Self.batchLimit)
            if pruned > 0 { logger.info("pruned finished jobs", metadata: ["count": "\(pruned)"]) }
            return pruned >= Self.batchLimit
        }
    }
}

extension Worker {
    /// The maintenance services a process runs beside this worker, on its queue and as its
    /// configuration asks: the rescuer (which wakes the worker when it made jobs available) and,
    /// with a retention, the pruner.
    public func maintenanceServices() -> [any Service] {
        var services: [any Service] = [
            Rescuer(queue: queue, interval: configuration.rescueInterval, logger: logger, onRescued: { self.wake() })
        ]
        if let retention = configuration.retention {
            services.append(
                Pruner(queue: queue, retention: retention, interval: configuration.pruneInterval, logger: logger))
        }
        return services
    }
}
