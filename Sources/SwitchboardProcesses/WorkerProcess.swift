import Logging
import Postgres
import ServiceLifecycle
import SwitchboardEvents
import SwitchboardSending
import SwitchboardStore
import SwitchboardWebhook
import SwitchboardWorker
import Twilio

/// One worker process, composed in one place for `switchboard worker`, the demo, the benchmarks
/// and the tests: the worker, its rescuer, stager, archiver and pruner, the campaign feeder, the
/// message archiver, and the
/// optional metrics port, as the services of one group.
///
/// Graceful shutdown stops them in reverse order: the worker first (it drains its running jobs),
/// then the maintenance services, then the metrics port, which answers until the end. A worker
/// told to stop by `beginShutdown()` ends by itself, and the rest follow it.
public struct WorkerProcess: ProcessComposition {
    public struct Configuration: Sendable {
        public var worker = WorkerConfiguration()
        /// Serve `GET /metrics` and `GET /health` here; no metrics port when nil.
        public var metrics: ListenAddress?
        /// Most of a campaign's capacity (seconds of sending at its pace) in the queue at once.
        public var campaignLookahead: Duration = .seconds(60)
        /// Messages older than this move to `message_history` (nil: never). Longer than the
        /// webhook's reply window, which binds replies to recent messages.
        public var messageArchiveAfter: Duration? = .seconds(2 * 86_400)
        /// Messages older than this are deleted, a day of history at a time (nil: kept).
        public var messageRetention: Duration?
        /// Events older than this are deleted with their deliveries, unless one still waits.
        public var eventRetention: Duration = .seconds(30 * 86_400)
        /// How the pricer asks Twilio for prices (it runs when `init` is given one).
        public var pricing = Pricer.Configuration()

        public init(
            worker: WorkerConfiguration = WorkerConfiguration(), metrics: ListenAddress? = nil,
            campaignLookahead: Duration = .seconds(60), messageArchiveAfter: Duration? = .seconds(2 * 86_400),
            messageRetention: Duration? = nil
        ) {
            self.worker = worker
            self.metrics = metrics
            self.campaignLookahead = campaignLookahead
            self.messageArchiveAfter = messageArchiveAfter
            self.messageRetention = messageRetention
        }
    }

    public let worker: Worker
    public let services: [ServiceGroupConfiguration.ServiceConfiguration]
    public let logger: Logger

    /// Validates the configuration (the error names the setting) and builds the services; nothing
    /// runs until `run` or `serviceGroup`.
    public init(
        configuration: Configuration, pool: PostgresPool, handlers: HandlerRegistry, pricer: Pricer? = nil,
        logger: Logger
    ) throws {
        worker = try Worker(
            store: JobStore(pool: pool), handlers: handlers, configuration: configuration.worker, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let metrics = configuration.metrics {
            services.append(
                .init(service: MetricsServer(host: metrics.host, port: metrics.port, pool: pool, logger: logger)))
        }
        services += worker.maintenanceServices().map { .init(service: $0) }
        let worker = self.worker
        services.append(
            .init(
                service: CampaignFeeder(
                    campaigns: CampaignStore(pool: pool), lookahead: configuration.campaignLookahead, logger: logger,
                    onFed: { worker.wake() })))
        if let age = configuration.messageArchiveAfter {
            services.append(
                .init(
                    service: MessageArchiver(
                        deliveries: DeliveryStore(pool: pool), age: age, retention: configuration.messageRetention,
                        logger: logger)))
        }
        services.append(
            .init(
                service: EventPruner(
                    store: EventStore(pool: pool, vault: nil), retention: configuration.eventRetention, logger: logger))
        )
        if let pricer { services.append(.init(service: pricer)) }
        services.append(.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup))
        self.services = services
        self.logger = logger
    }

    /// The job handlers of a worker process: `noop`, plus `sms`, `whatsapp`, `voice` and
    /// `event.deliver` when a master key is configured (Twilio credentials and signing secrets are
    /// encrypted with it). Sends without their own status callback ask for one at `publicURL`.
    public static func handlers(
        pool: PostgresPool, twilio: TwilioClient, vault: CredentialVault?, publicURL: String?, logger: Logger,
        events: EventDelivery.Configuration = .init()
    ) -> HandlerRegistry {
        guard let vault else {
            logger.notice(
                "no SWITCHBOARD_MASTER_KEY: sending (sms, whatsapp, voice) and event webhooks are disabled in this worker"
            )
            return .standard
        }
        var handlers = HandlerRegistry.sending(
            client: twilio, accounts: AccountStore(pool: pool, vault: vault), deliveries: DeliveryStore(pool: pool),
            webhookBaseURL: publicURL)
        EventDelivery(store: EventStore(pool: pool, vault: vault), configuration: events).register(in: &handlers)
        return handlers
    }
}

extension WorkerProcess {
    /// The pricer of a worker process: none without a master key (it reads Twilio with the
    /// account's credentials) or with a concurrency of 0 (pricing off in this worker).
    public static func pricer(
        pool: PostgresPool, twilio: TwilioClient, vault: CredentialVault?, configuration: Pricer.Configuration,
        logger: Logger
    ) -> Pricer? {
        guard let vault, configuration.concurrency > 0 else { return nil }
        return Pricer(
            store: PriceStore(pool: pool), client: twilio, accounts: AccountStore(pool: pool, vault: vault),
            configuration: configuration, logger: logger)
    }
}

/// A host and port a process listens on.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
