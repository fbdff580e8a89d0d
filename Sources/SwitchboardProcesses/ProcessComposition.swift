import Logging
import ServiceLifecycle
import UnixSignals

/// A process as the services it runs, in start order: graceful shutdown stops them in reverse.
public protocol ProcessComposition: Sendable {
    var services: [ServiceGroupConfiguration.ServiceConfiguration] { get }
    var logger: Logger { get }
}

extension ProcessComposition {
    /// The process's services in one group, shut down gracefully on `signals`.
    public func serviceGroup(gracefulShutdownSignals signals: [UnixSignal] = []) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: signals, cancellationSignals: [], logger: logger))
    }

    /// Runs the process until graceful shutdown on `signals` (or until a service ends it).
    public func run(gracefulShutdownSignals signals: [UnixSignal] = []) async throws {
        try await serviceGroup(gracefulShutdownSignals: signals).run()
    }
}
