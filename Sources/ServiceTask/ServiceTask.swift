import Logging
import ServiceLifecycle

/// A service running in the background in a service group of its own, stopped gracefully.
///
/// Cancelling the task that runs a Hummingbird server (what `Task { try await server.run() }`
/// plus `cancel()` does) can trap in a debug build when a connection was accepted but not yet
/// served ("Deinited NIOAsyncWriter without calling finish()", swift-nio #2637): the accepted
/// channel is dropped unclosed. A graceful shutdown closes every connection it accepted.
public final class ServiceTask: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts `service` now.
    public convenience init(_ service: some Service, logger: Logger) {
        self.init(group: ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger)))
    }

    /// Starts the services of `group` now (a whole process, for instance).
    public init(group: ServiceGroup) {
        self.group = group
        // Unstructured, so cancelling whoever waits for it does not cancel the server under it.
        task = Task { try await group.run() }
    }

    /// Begins a graceful shutdown and returns at once.
    public func stop() {
        Task { [group] in await group.triggerGracefulShutdown() }
    }

    /// Shuts the service down gracefully and waits until it has stopped.
    public func stopAndWait() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Waits until the service ends by itself (or after `stop`).
    public func value() async throws { try await task.value }
}
