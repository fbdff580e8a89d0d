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

    // Without defaults here: a flag given wins over the environment, which wins over the default
    // in `configuration(_:)` (swift-configuration's advice for ArgumentParser).
    @Option(help: "Comma-separated queues to take jobs from, in order of preference (default: default).")
    var queues: String?

    @Option(help: "Jobs run at once by this process (default: 50).")
    var concurrency: Int?

    @Option(help: "Most jobs claimed by one query (default: 100).")
    var batchSize: Int?

    @Option(
        help: """
            Claims out at once while there is a backlog, each for its share of the free capacity and at least \
            half a batch (default: 2; 1 claims one batch at a time).
            """)
    var claimsInFlight: Int?

    @Option(help: "How often to look for work without a notification, e.g. 1s, 500ms (default: 1s).")
    var pollInterval: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Wake up on NOTIFY (default: on). Use --no-listen behind PgBouncer in transaction pooling mode.")
    var listen: Bool?

    @Option(help: "How long a claimed job is held without a heartbeat (default: 60s).")
    var lease: String?

    @Option(help: "How often this worker looks for jobs whose worker died, their lease expired (default: 15s).")
    var rescueInterval: String?

    @Option(
        help: """
            The longest this worker's stager waits before making scheduled jobs that came due available; it \
            wakes sooner when one is due sooner (default: 1s, below 5s).
            """)
    var stageInterval: String?

    @Option(
        help: """
            Most of a campaign's sending capacity (seconds at its pace) fed into the queue at once; the rest of its \
            recipients wait in the campaign (default: 60s).
            """)
    var campaignLookahead: String?

    @Option(help: "On shutdown, how long running jobs may take before they go back to the queue (default: 10s).")
    var gracePeriod: String?

    @Option(
        help: """
            Move finished jobs from the hot table to switchboard.job_history this long after they finished; 'off' \
            keeps them in the hot table (default: 1m). Read any job, moved or not, from switchboard.all_jobs.
            """)
    var archiveAfter: String?

    @Option(
        help: "Delete finished jobs older than this, a whole day of history at a time; 'off' keeps them (default: 7d).")
    var retention: String?

    @Option(
        help: """
            Move messages (delivery records) older than this to switchboard.message_history; keep it longer than \
            the webhook's --reply-window; 'off' keeps them in the hot table (default: 2d).
            """)
    var messageArchiveAfter: String?

    @Option(help: "Delete messages older than this, a whole day at a time; 'off' keeps them (default: off).")
    var messageRetention: String?

    @Option(
        help:
            "Delete webhook events older than this (and their delivery records) unless one still waits (default: 30d)."
    )
    var eventRetention: String?

    @Option(
        help: """
            Mark a message's or call's price unknown when Twilio has published none this long after its final \
            status (default: 24h).
            """)
    var priceGiveUp: String?

    @Option(help: "Twilio requests in flight at once for prices, per worker; 0 turns pricing off here (default: 4).")
    var priceConcurrency: Int?

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

    /// Every flag by name, for the settings reader (the environment fills in what is not given).
    var flags: [String: String?] {
        database.flags.merging(log.flags) { $1 }.merging(twilio.flags) { $1 }.merging(
            [
                "queues": queues, "concurrency": concurrency.map(String.init), "batch-size": batchSize.map(String.init),
                "claims-in-flight": claimsInFlight.map(String.init),
                "poll-interval": pollInterval, "listen": listen.map(String.init), "lease": lease,
                "rescue-interval": rescueInterval, "stage-interval": stageInterval,
                "campaign-lookahead": campaignLookahead, "grace-period": gracePeriod,
                "archive-after": archiveAfter, "retention": retention, "message-archive-after": messageArchiveAfter,
                "message-retention": messageRetention, "event-retention": eventRetention,
                "price-give-up": priceGiveUp, "price-concurrency": priceConcurrency.map(String.init),
                "public-url": publicURL, "metrics-port": metricsPort.map(String.init), "metrics-host": metricsHost,
            ]
        ) { $1 }
    }

    /// What a worker process runs with, read and checked as `switchboard config` does.
    struct Resolved {
        var process: WorkerProcess.Configuration
        var publicURL: String?
        var twilio: TwilioOptions.Resolved
    }

    func validate() throws {
        _ = try Self.configuration(Settings(flags: flags))
    }

    /// The settings as a validated configuration; a bad value is a usage error naming its flag or
    /// variable.
    static func configuration(_ settings: Settings) throws -> Resolved {
        var configuration = WorkerConfiguration()
        if let queues = settings.text("queues") {
            configuration.queues = queues.value.split(separator: ",").map {
                String($0).trimmingCharacters(in: .whitespaces)
            }
        }
        configuration.concurrency = try settings.int("concurrency", default: configuration.concurrency)
        configuration.batchSize = try settings.int("batch-size", default: configuration.batchSize)
        configuration.claimsInFlight = try settings.int("claims-in-flight", default: configuration.claimsInFlight)
        configuration.pollInterval = try settings.duration("poll-interval", default: configuration.pollInterval)
        configuration.listen = try settings.bool("listen", default: configuration.listen)
        configuration.lease = try settings.duration("lease", default: configuration.lease)
        configuration.heartbeatInterval = configuration.lease / 4
        configuration.rescueInterval = try settings.duration("rescue-interval", default: configuration.rescueInterval)
        configuration.stageInterval = try settings.duration("stage-interval", default: configuration.stageInterval)
        configuration.shutdownGracePeriod = try settings.duration(
            "grace-period", default: configuration.shutdownGracePeriod)
        configuration.archiveAfter = try settings.durationOrOff("archive-after", default: configuration.archiveAfter)
        configuration.retention = try settings.durationOrOff("retention", default: configuration.retention)
        do { try configuration.validate() } catch {
            // Name the setting: the heartbeat follows from the lease; the others are settings of their own.
            let name =
                error.field == "heartbeat_interval" ? "lease" : error.field.replacingOccurrences(of: "_", with: "-")
            try settings.problem(settings.text(name)?.source ?? "--\(name)", error.problem)
        }
        let twilio = try TwilioOptions.resolve(settings)
        // A send starts only if it ends before the lease can expire (the lease fence): the lease
        // left just before a heartbeat must cover a whole Twilio request, or nothing is ever sent.
        if configuration.lease - configuration.heartbeatInterval < twilio.client.timeout + .seconds(2) {
            let lease = settings.text("lease")
            let timeout = settings.text("twilio-timeout")
            try settings.problem(
                lease?.source ?? timeout?.source ?? "--lease",
                """
                a lease of \(lease?.value ?? "60s") is too short for a Twilio timeout of \(timeout?.value ?? "30s"): \
                a send must end before its job's lease can expire, so three quarters of the lease must exceed \
                the Twilio timeout by 2 s
                """)
        }
        var process = WorkerProcess.Configuration(worker: configuration)
        process.campaignLookahead = try settings.duration("campaign-lookahead", default: process.campaignLookahead)
        if process.campaignLookahead < .seconds(1) {
            try settings.problem(
                settings.text("campaign-lookahead")?.source ?? "--campaign-lookahead", "must be at least 1s")
        }
        process.messageArchiveAfter = try settings.durationOrOff(
            "message-archive-after", default: process.messageArchiveAfter)
        process.messageRetention = try settings.durationOrOff("message-retention", default: process.messageRetention)
        if let age = process.messageArchiveAfter, let retention = process.messageRetention, age >= retention {
            try settings.problem(
                settings.text("message-archive-after")?.source ?? "--message-archive-after",
                "must be shorter than the message retention (\(retention))")
        }
        process.eventRetention = try settings.duration("event-retention", default: process.eventRetention)
        if process.eventRetention < .seconds(3600) {
            try settings.problem(
                settings.text("event-retention")?.source ?? "--event-retention",
                "must be at least 1h (deliveries are retried for three days; waiting ones are kept anyway)")
        }
        let giveUp = try settings.duration("price-give-up", default: process.pricing.schedule.giveUpAfter)
        if giveUp < .seconds(60) {
            try settings.problem(
                settings.text("price-give-up")?.source ?? "--price-give-up",
                "must be at least 1m (Twilio publishes prices some time after sending)")
        }
        process.pricing.schedule.giveUpAfter = giveUp
        process.pricing.concurrency = try settings.int(
            "price-concurrency", default: process.pricing.concurrency, in: 0...50)
        if let port = try settings.optionalInt("metrics-port", in: 1...65535) {
            process.metrics = ListenAddress(host: settings.string("metrics-host", default: "0.0.0.0"), port: port)
        }
        let publicURL = try settings.baseURL("public-url", default: nil, allowQuery: false)
        return Resolved(process: process, publicURL: publicURL, twilio: twilio)
    }

    func run() async throws {
        let settings = Settings(flags: flags)
        let resolved = try Self.configuration(settings)
        let logger = log.makeLogger("switchboard.worker")
        let vault = try MasterKey.vault(settings, required: false)
        try await TwilioOptions.withClient(settings) { client in
            try await run(resolved, settings: settings, vault: vault, client: client, logger: logger)
        }
    }

    private func run(
        _ resolved: Resolved, settings: Settings, vault: CredentialVault?, client: TwilioClient, logger: Logger
    ) async throws {
        try await database.withPool(settings: settings) { pool in
            try await Migrator(pool: pool).requireUpToDate()
            if let metrics = resolved.process.metrics {
                ConnectionLimits.raiseDescriptorLimit()
                logger.info("serving metrics", metadata: ["url": "http://\(metrics.host):\(metrics.port)/metrics"])
            }
            let handlers = WorkerProcess.handlers(
                pool: pool, twilio: client, vault: vault, publicURL: resolved.publicURL, logger: logger)
            let pricer = WorkerProcess.pricer(
                pool: pool, twilio: client, vault: vault, configuration: resolved.process.pricing, logger: logger)
            try await WorkerProcess(
                configuration: resolved.process, pool: pool, handlers: handlers, pricer: pricer, logger: logger
            )
            .run(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }
}
