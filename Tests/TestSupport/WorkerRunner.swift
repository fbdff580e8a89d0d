import Logging
import ServiceTask
import SwitchboardProcesses
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker

/// Runs a worker process (the worker, its rescuer and pruner, as `switchboard worker` runs them)
/// in the background for the duration of `body`, then shuts it down gracefully.
/// Test defaults: quick polling and rescue, warnings only.
public func withWorker<T: Sendable>(
    _ db: TestDatabase, handlers: HandlerRegistry = .standard, pricer: Pricer? = nil,
    configure: (inout WorkerConfiguration) -> Void = { _ in },
    _ body: (Worker) async throws -> T
) async throws -> T {
    var configuration = WorkerConfiguration()
    configuration.pollInterval = .milliseconds(200)
    configuration.rescueInterval = .milliseconds(200)
    configure(&configuration)
    var logger = Logger(label: "test.worker")
    logger.logLevel = .warning
    let process = try WorkerProcess(
        configuration: .init(worker: configuration), pool: db.pool, handlers: handlers, pricer: pricer, logger: logger)
    let running = ServiceTask(group: process.serviceGroup())
    do {
        let value = try await body(process.worker)
        try await running.stopAndWait()
        return value
    } catch {
        try? await running.stopAndWait()
        throw error
    }
}
