import Logging
import ServiceLifecycle

/// The loop of every maintenance service (rescuer, pruner, session sweeper, queue sampler): runs
/// `batch` every `interval` until cancelled or graceful shutdown, and again at once when it says
/// its batch was full (more are waiting). A failed batch is logged at `failureLevel` and tried
/// next time; a failure caused by the shutdown itself is not logged.
public func repeatUntilShutdown(
    every interval: Duration, logger: Logger, failure: Logger.Message, failureLevel: Logger.Level = .warning,
    _ batch: @escaping @Sendable () async throws -> Bool
) async {
    await repeatUntilShutdown(
        pausingAfterFailure: interval, logger: logger, failure: failure, failureLevel: failureLevel
    ) {
        try await batch() ? .zero : interval
    }
}

/// The same loop for a service that decides how long to wait after each batch (the stager sleeps
/// until the next job is due): `batch` returns the pause, zero to go on at once; after a failure
/// the loop waits `pausingAfterFailure`.
public func repeatUntilShutdown(
    pausingAfterFailure failurePause: Duration, logger: Logger, failure: Logger.Message,
    failureLevel: Logger.Level = .warning, _ batch: @escaping @Sendable () async throws -> Duration
) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            var pause = failurePause
            do {
                pause = try await batch()
            } catch {
                if !Task.isCancelled { logger.log(level: failureLevel, failure, metadata: ["error": "\(error)"]) }
            }
            if pause > .zero { try? await Task.sleep(for: pause) }
        }
    }
}
