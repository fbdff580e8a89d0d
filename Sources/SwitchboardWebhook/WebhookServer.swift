import AsyncHTTPClient
import Hummingbird
import Logging
import Postgres
import ServiceLifecycle
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// The HTTP endpoint Twilio calls. Stateless: every request reads and writes Postgres, so any
/// number of instances may serve behind a load balancer. A `switchboard webhook` process runs it
/// beside its maintenance services (`SessionSweeper`, `QueueDepthSampler`): see `WebhookProcess`.
public final class WebhookServer: Service, Sendable {
    public let configuration: WebhookConfiguration
    let pool: PostgresPool
    let accounts: AccountStore
    let logger: Logger
    /// Its live ConversationRelay sockets, drained on shutdown by `RelayDrainService`.
    public let relays = RelayDrain()
    private let boundPort = Mutex<Int?>(nil)

    public init(configuration: WebhookConfiguration, pool: PostgresPool, accounts: AccountStore, logger: Logger) throws
    {
        try configuration.validate()
        self.configuration = configuration
        self.pool = pool
        self.accounts = accounts
        self.logger = logger
    }

    /// The port it listens on, once it does.
    public var port: Int? { boundPort.withLock { $0 } }

    public func run() async throws {
        let modelClient = configuration.llm.makeHTTPClient()
        let router = buildWebhookRouter(
            configuration: configuration, pool: pool, accounts: accounts, relays: relays, modelClient: modelClient,
            logger: logger)
        let app = Application(
            router: router, server: configuration.limits.webSocketServer(router: router),
            configuration: configuration.limits.applicationConfiguration(
                host: configuration.host, port: configuration.port, serverName: "switchboard-webhook", logger: logger),
            onServerRunning: { channel in
                self.boundPort.withLock { $0 = channel.localAddress?.port }
            },
            logger: logger)
        do {
            try await app.run()
        } catch {
            try? await modelClient.shutdown()
            throw error
        }
        try await modelClient.shutdown()
    }
}

/// The webhook's routes and middleware, built once for the server and for in-process tests: every
/// route under `/twilio` is behind the signature check, every route under `/dashboard` behind
/// its token (the dashboard exists only when a token is configured).
func buildWebhookRouter(
    configuration: WebhookConfiguration, pool: PostgresPool, accounts: AccountStore, relays: RelayDrain = RelayDrain(),
    modelClient: HTTPClient = .shared, logger: Logger
) -> Router<WebhookRequestContext> {
    let router = Router(context: WebhookRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware())
    router.add(middleware: ServerErrorMiddleware(logger: logger))
    MetricsEndpoint(pool: pool, logger: logger).register(on: router)
    LinkRoutes(pool: pool, logger: logger).register(on: router)
    let verifier = WebhookVerifier(
        publicURL: configuration.base, maxBodyBytes: configuration.maxBodyBytes,
        bodyTimeout: configuration.limits.bodyTimeout, tokens: TokenCache(accounts: accounts), logger: logger)
    let twilio = router.group(RouterPath(stringLiteral: WebhookPaths.twilioGroup))
        .add(middleware: TwilioSignatureMiddleware(verifier: verifier))
    WebhookRoutes(
        configuration: configuration, statuses: StatusStore(pool: pool, firstPriceCheck: configuration.firstPriceCheck),
        inbound: InboundStore(pool: pool),
        sessions: SessionStore(pool: pool), pool: pool, relays: relays, logger: logger
    ).register(on: router, twilio: twilio)
    let llm = configuration.llm.apiKey.map {
        ChatCompletions(configuration: configuration.llm, apiKey: $0, http: modelClient)
    }
    let agentTools = AgentTools(
        http: modelClient, secret: configuration.toolSecret, jobs: JobStore(pool: pool), logger: logger)
    VoiceRoutes(
        base: configuration.base, sessions: SessionStore(pool: pool), llm: llm, agentTools: agentTools,
        turnDeadline: configuration.llm.turnDeadline, logger: logger
    ).register(twilio: twilio)
    RelayRoutes(
        base: configuration.base, sessions: SessionStore(pool: pool), drain: relays, llm: llm,
        turnDeadline: configuration.llm.turnDeadline, agentTools: agentTools, logger: logger
    ).register(twilio: twilio)
    if let token = configuration.dashboardToken {
        DashboardRoutes(token: token, pool: pool, relays: relays, logger: logger).register(on: router)
    }
    return router
}
