import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook
import SwitchboardWorker
import Twilio

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Claim and run jobs until SIGTERM or SIGINT (then finish running jobs within the grace period).",
        discussion: """
            Examples:
              switchboard worker --concurrency 50
              switchboard worker --queues marketing,default --no-listen   # behind PgBouncer (transaction pooling)
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions
    @OptionGroup var twilio: TwilioOptions

    @Option(help: "Comma-separated queues to take jobs from, in order of preference.")
    var queues: String = "default"

    @Option(help: "Jobs run at once by this process.")
    var concurrency: Int = 50

    @Option(help: "Most jobs claimed by one query.")
    var batchSize: Int = 100

    @Option(help: "How often to look for work without a notification (e.g. 1s, 500ms).")
    var pollInterval: String = "1s"

    @Flag(
        inversion: .prefixedNo, help: "Wake up on NOTIFY. Use --no-listen behind PgBouncer in transaction pooling mode."
    )
    var listen = true

    @Option(help: "How long a claimed job is held without a heartbeat.")
    var lease: String = "60s"

    @Option(help: "How often this worker looks for jobs whose worker died (their lease expired).")
    var rescueInterval: String = "15s"

    @Option(help: "On shutdown, how long running jobs may take before they go back to the queue.")
    var gracePeriod: String = "10s"

    @Option(help: "Delete finished jobs older than this ('off' keeps them).")
    var retention: String = "7d"

    @Option(
        name: .customLong("public-url"),
        help: """
            Where `switchboard webhook` is reachable by Twilio (default: $SWITCHBOARD_PUBLIC_URL). Sends without \
            their own statusCallback ask for status callbacks there.
            """)
    var publicURL: String?

    @Option(
        help: """
            Serve Prometheus metrics on this port at /metrics (default: $SWITCHBOARD_METRICS_PORT; none if unset). \
            Several workers on one host need one port each.
            """)
    var metricsPort: Int?

    @Option(help: "Address the metrics port listens on (default: $SWITCHBOARD_METRICS_HOST, else 0.0.0.0).")
    var metricsHost: String?

    /// The metrics port from the flag or the environment; a bad value names its source.
    func resolvedMetricsPort() throws -> Int? {
        if let metricsPort {
            guard (1...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be in 1…65535") }
            return metricsPort
        }
        guard let text = ProcessInfo.processInfo.environment["SWITCHBOARD_METRICS_PORT"], !text.isEmpty else {
            return nil
        }
        guard let port = Int(text), (1...65535).contains(port) else {
            throw ValidationError("SWITCHBOARD_METRICS_PORT: '\(text)' is not a port number (1…65535)")
        }
        return port
    }

    var resolvedPublicURL: String? {
        publicURL ?? ProcessInfo.processInfo.environment["SWITCHBOARD_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        let configuration = try workerConfiguration()
        // A send starts only if it ends before the lease can expire (the lease fence): the lease
        // left just before a heartbeat must cover a whole Twilio request, or nothing is ever sent.
        let timeout = try parseDuration(twilio.timeout, flag: "--twilio-timeout")
        guard configuration.lease - configuration.heartbeatInterval >= timeout + .seconds(2) else {
            throw ValidationError(
                """
                --lease \(lease) is too short for --twilio-timeout \(twilio.timeout): a send must end before its \
                job's lease can expire, so three quarters of the lease must exceed the Twilio timeout by 2 s
                """)
        }
        _ = try resolvedMetricsPort()
        if let url = resolvedPublicURL {
            guard HTTPURL.isValidBase(url) else {
                throw ValidationError(
                    "--public-url / SWITCHBOARD_PUBLIC_URL: '\(url)' is not an http(s) URL without a query")
            }
        }
    }

    /// The flags as a validated configuration; a bad value is a usage error naming its flag.
    func workerConfiguration() throws -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.queues = queues.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        configuration.concurrency = concurrency
        configuration.batchSize = batchSize
        configuration.pollInterval = try parseDuration(pollInterval, flag: "--poll-interval")
        configuration.listen = listen
        configuration.lease = try parseDuration(lease, flag: "--lease")
        configuration.heartbeatInterval = configuration.lease / 4
        configuration.rescueInterval = try parseDuration(rescueInterval, flag: "--rescue-interval")
        configuration.shutdownGracePeriod = try parseDuration(gracePeriod, flag: "--grace-period")
        configuration.retention = retention == "off" ? nil : try parseDuration(retention, flag: "--retention")
        do { try configuration.validate() } catch {
            // Name the flag: the heartbeat follows from the lease; the others are flags of their own.
            let flag =
                error.field == "heartbeat_interval" ? "lease" : error.field.replacingOccurrences(of: "_", with: "-")
            throw ValidationError("--\(flag): \(error.problem)")
        }
        return configuration
    }

    func run() async throws {
        let configuration = try workerConfiguration()
        let logger = log.makeLogger("switchboard.worker")
        let environment = ProcessInfo.processInfo.environment
        let hasKey = environment["SWITCHBOARD_MASTER_KEY"] != nil || environment["SWITCHBOARD_MASTER_KEY_FILE"] != nil
        let vault = hasKey ? try masterKey() : nil
        try await twilio.withClient { client in
            try await run(configuration, vault: vault, client: client, logger: logger)
        }
    }

    private func run(
        _ configuration: WorkerConfiguration, vault: CredentialVault?, client: TwilioClient, logger: Logger
    ) async throws {
        try await database.withPool { pool in
            try await Migrator(pool: pool).requireUpToDate()
            var process = WorkerProcess.Configuration(worker: configuration)
            if let port = try resolvedMetricsPort() {
                ConnectionLimits.raiseDescriptorLimit()
                let host = metricsHost ?? ProcessInfo.processInfo.environment["SWITCHBOARD_METRICS_HOST"] ?? "0.0.0.0"
                process.metrics = ListenAddress(host: host, port: port)
                logger.info("serving metrics", metadata: ["url": "http://\(host):\(port)/metrics"])
            }
            let handlers = WorkerProcess.handlers(
                pool: pool, twilio: client, vault: vault, publicURL: resolvedPublicURL, logger: logger)
            try await WorkerProcess(configuration: process, pool: pool, handlers: handlers, logger: logger)
                .run(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }
}
