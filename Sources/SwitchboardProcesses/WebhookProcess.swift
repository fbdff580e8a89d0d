import Logging
import Postgres
import ServiceLifecycle
import SwitchboardStore
import SwitchboardWebhook

/// One webhook process, composed in one place for `switchboard webhook`, the demo and the tests:
/// the HTTP server and its maintenance services (the session sweeper and the queue sampler) as
/// the services of one group. Graceful shutdown first drains the live voice-agent sockets (the
/// server still serving), then stops the server: it finishes the requests in flight while the
/// maintenance services still run.
public struct WebhookProcess: ProcessComposition {
    public let server: WebhookServer
    public let services: [ServiceGroupConfiguration.ServiceConfiguration]
    public let logger: Logger

    /// Validates the configuration (the error names the setting) and builds the services; nothing
    /// runs until `run` or `serviceGroup`.
    public init(configuration: WebhookConfiguration, pool: PostgresPool, accounts: AccountStore, logger: Logger)
        throws
    {
        server = try WebhookServer(configuration: configuration, pool: pool, accounts: accounts, logger: logger)
        services = [
            .init(
                service: SessionSweeper(
                    sessions: SessionStore(pool: pool), interval: configuration.sessionSweepInterval, logger: logger)),
            .init(
                service: QueueDepthSampler(
                    dashboard: DashboardStore(pool: pool), interval: configuration.queueSampleInterval, logger: logger)),
            .init(service: server),
            // Last, so it stops first: live calls drain while the server still serves.
            .init(
                service: RelayDrainService(
                    drain: server.relays, timeout: configuration.drainTimeout,
                    // A hand-off waits for the answer being spoken, which ends within the model's deadline.
                    handOffTimeout: configuration.llm.turnDeadline + .seconds(2), logger: logger)),
        ]
        self.logger = logger
    }

    /// The port the server listens on, once it does.
    public var port: Int? { server.port }
}
