import Logging
import ServiceLifecycle
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
        await repeatInBatches(every: interval, logger: logger, failure: "rescuing jobs failed") {
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
        await repeatInBatches(every: interval, logger: logger, failure: "pruning jobs failed") {
            let pruned = try await queue.prune(olderThan: retention, limit: Self.batchLimit)
            if pruned > 0 { logger.info("pruned finished jobs", metadata: ["count": "\(pruned)"]) }
            return pruned >= Self.batchLimit
        }
    }
}

/// Runs `batch` every `interval` until cancelled or graceful shutdown; again at once when it
/// says its batch was full (more are waiting). A failed batch is logged and tried next time.
private func repeatInBatches(
    every interval: Duration, logger: Logger, failure: Logger.Message,
    _ batch: @escaping @Sendable () async throws -> Bool
) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            var full = false
            do {
                full = try await batch()
            } catch {
                if !Task.isCancelled { logger.warning(failure, metadata: ["error": "\(error)"]) }
            }
            if !full { try? await Task.sleep(for: interval) }
        }
    }
}
