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
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            var full = false
            do {
                full = try await batch()
            } catch {
                if !Task.isCancelled { logger.log(level: failureLevel, failure, metadata: ["error": "\(error)"]) }
            }
            if !full { try? await Task.sleep(for: interval) }
        }
    }
}
