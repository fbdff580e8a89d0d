import Logging
import SwitchboardStore
import SwitchboardWorker

/// Runs a worker in the background for the duration of `body`, then shuts it down gracefully.
/// Test defaults: quick polling and rescue, warnings only.
public func withWorker<T: Sendable>(
    _ db: TestDatabase, handlers: HandlerRegistry = .standard,
    configure: (inout WorkerConfiguration) -> Void = { _ in },
    _ body: (Worker) async throws -> T
) async throws -> T {
    var configuration = WorkerConfiguration()
    configuration.pollInterval = .milliseconds(200)
    configuration.rescueInterval = .milliseconds(200)
    configure(&configuration)
    var logger = Logger(label: "test.worker")
    logger.logLevel = .warning
    let worker = try Worker(store: db.store, handlers: handlers, configuration: configuration, logger: logger)
    let running = Task { try await worker.run() }
    do {
        let value = try await body(worker)
        worker.beginShutdown()
        try await running.value
        return value
    } catch {
        worker.beginShutdown()
        _ = try? await running.value
        throw error
    }
}
