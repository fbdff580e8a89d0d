import Hummingbird
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import SwitchboardCore
import SwitchboardMetrics
import SwitchboardStore
import Synchronization

/// `GET /metrics`: this process's counters and histograms, plus queue depth, the oldest due job's
/// age and active voice sessions read from PostgreSQL when scraped (at most once a second, so many
/// scrapers cost one query).
public final class MetricsEndpoint: Sendable {
    let operations: OperationsStore
    let metrics: SwitchboardMetrics
    let logger: Logger
    private let lastReading = Mutex<ContinuousClock.Instant?>(nil)

    /// `metrics`: the backend whose exposition is served (the process's own by default).
    public init(pool: PostgresPool, metrics: SwitchboardMetrics = .process, logger: Logger) {
        operations = OperationsStore(pool: pool)
        self.metrics = metrics
        self.logger = logger
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("metrics") { _, _ -> Response in
            let text = await self.exposition()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    public func exposition() async -> String {
        let due = lastReading.withLock { last -> Bool in
            guard let last, ContinuousClock.now - last < .seconds(1) else {
                last = .now
                return true
            }
            return false
        }
        if due { await self.readDatabase() }
        return metrics.exposition()
    }

    private func readDatabase() async {
        do {
            var depth: [LabelValues: Double] = [:]
            var oldest: [LabelValues: Double] = [:]
            for row in try await operations.queueCounts() {
                depth[[row.queue, row.kind, row.state]] = Double(row.count)
                if let age = row.oldestDueAge { oldest[[row.queue]] = max(oldest[[row.queue]] ?? 0, age) }
            }
            metrics.queueJobs.replaceAll(depth)
            metrics.queueOldestAvailableAge.replaceAll(oldest)
            metrics.voiceSessionsActive.set(Double(try await operations.activeVoiceSessions()))
            let health = try await operations.queueHealth()
            metrics.queueTableRows.set(Double(health.liveTuples), ["live"])
            metrics.queueTableRows.set(Double(health.deadTuples), ["dead"])
            metrics.oldestTransactionAge.set(health.oldestTransactionAge)
        } catch {
            metrics.scrapeErrors.increment()
            logger.warning("metrics: could not read queue depth", metadata: ["error": "\(error)"])
        }
    }
}

/// Times every request into `switchboard_webhook_request_duration_seconds` by matched route
/// (the route pattern, never the path with its ids) and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            observe(started, context, status: response.status.code)
            return response
        } catch let error as HTTPResponseError {
            observe(started, context, status: error.status.code)
            throw error
        } catch {
            observe(started, context, status: 500)
            throw error
        }
    }

    private func observe(_ started: ContinuousClock.Instant, _ context: Context, status: Int) {
        let route = context.endpointPath ?? "unmatched"
        Metrics.Timer(
            label: MetricNames.webhookRequestDuration, dimensions: [("route", route), ("status", String(status))]
        )
        .record(duration: ContinuousClock.now - started)
    }
}

/// The worker's metrics port: `GET /metrics` and `GET /health` on an address of their own.
public final class MetricsServer: Service, Sendable {
    let host: String
    let port: Int
    let endpoint: MetricsEndpoint
    let logger: Logger
    let limits: ConnectionLimits

    /// Scrapers are few: by default at most 256 connections, idle ones closed after 30 s.
    public static let defaultLimits: ConnectionLimits = {
        var limits = ConnectionLimits()
        limits.maxConnections = 256
        return limits
    }()

    public init(host: String, port: Int, pool: PostgresPool, logger: Logger, limits: ConnectionLimits = defaultLimits) {
        self.host = host
        self.port = port
        self.limits = limits
        endpoint = MetricsEndpoint(pool: pool, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        router.get("health") { _, _ in "ok" }
        endpoint.register(on: router)
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let app = Application(
            router: router, server: limits.server,
            configuration: limits.applicationConfiguration(
                host: host, port: port, serverName: "switchboard-metrics", logger: quiet),
            logger: quiet)
        try await app.run()
    }
}
