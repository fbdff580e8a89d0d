import ArgumentParser
import EmbeddedPostgres
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import ServiceTask
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardSending
import SwitchboardStore
import SwitchboardWebhook
import SwitchboardWorker
import Twilio
import TwilioSimulator

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Send a small campaign and run a voice survey end to end: throwaway PostgreSQL, Twilio simulator, worker, webhook (no credentials needed).",
        discussion: """
            Uses $DATABASE_URL when set, otherwise starts PostgreSQL in a temporary directory. The
            Twilio simulator stands in for api.twilio.com; nothing leaves this machine.
            """)

    @Option(help: "Recipients of the SMS campaign.") var recipients = 200
    @Flag(help: "Afterwards, keep the webhook and its dashboard running until Ctrl-C.") var serve = false
    @Option(help: "Port of the webhook and dashboard (default: any free port).") var port: Int?

    func validate() throws {
        guard (1...100_000).contains(recipients) else {
            throw ValidationError("--recipients must be between 1 and 100000")
        }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be in 1…65535") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        var server: EmbeddedPostgres?
        let configuration: PostgresConfiguration
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            configuration = try PostgresConfiguration(url)
            say("using DATABASE_URL (\(configuration["host"] ?? "local"))")
        } else {
            say("starting a throwaway PostgreSQL…")
            server = try await EmbeddedPostgres.start()
            configuration = try PostgresConfiguration(server!.url)
        }
        defer { server?.destroy() }
        let pool = PostgresPool(configuration: configuration)
        let applied = try await Migrator(pool: pool).migrate()
        say(
            "schema ready (\(applied.isEmpty ? "already up to date" : "applied " + applied.map(\.name).joined(separator: ", ")))"
        )

        let scenario = DemoScenario(recipients: recipients)
        let simulator = TwilioSimulator(configuration: scenario.simulatorConfiguration, logger: quiet("demo.simulator"))
        let simulatorTask = try await simulator.start()
        defer { simulatorTask.stop() }
        say("Twilio simulator listening on \(simulator.baseURL!)")

        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification(id: "demo"))
        let accounts = AccountStore(pool: pool, vault: vault)
        let accountID = try await accounts.upsert(
            name: "demo", accountSID: DemoScenario.accountSID, secret: DemoScenario.authToken)
        say("account 'demo' stored with its auth token sealed (AES-GCM)")
        // Its SMS number, with a rate limit the workers keep to (shown on the dashboard's senders panel).
        _ = try await SenderStore(pool: pool).addSender(
            accountID: accountID, address: DemoScenario.sender, kind: .longCode, rate: 100, burst: 10)
        say("sender \(DemoScenario.sender) limited to 100 segments per second")

        // The webhook Twilio calls back: delivery statuses, and the voice agent's turns.
        var hooks = WebhookConfiguration(publicURL: "http://127.0.0.1:\(try port ?? EmbeddedPostgres.freePort())")
        hooks.port = URL(string: hooks.publicURL)!.port!
        let environmentToken = ProcessInfo.processInfo.environment["SWITCHBOARD_DASHBOARD_TOKEN"].flatMap {
            $0.isEmpty ? nil : $0
        }
        // A throwaway demo gets a throwaway token, which it may print; a configured one never is.
        hooks.dashboardToken =
            environmentToken ?? (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        // Prices are asked for soon after the final status (Twilio publishes them later).
        hooks.firstPriceCheck = .milliseconds(500)
        let webhook = try WebhookProcess(
            configuration: hooks, pool: pool, accounts: accounts, logger: quiet("demo.webhook"))
        let webhookTask = ServiceTask(group: webhook.serviceGroup())
        defer { webhookTask.stop() }
        _ = await eventually(timeout: .seconds(10)) { webhook.port != nil }
        say("webhook listening on \(hooks.publicURL) (status callbacks, voice-agent turns)")

        let store = JobStore(pool: pool)
        let (jobIDs, rejected) = try await scenario.enqueue(store: store)
        say("queued \(jobIDs.count) jobs: \(scenario.description)")
        for (what, error) in rejected { say("  refused at enqueue (\(what)): \(error)") }

        let http = makeSendingHTTPClient(connections: 32)
        let client = TwilioClient(
            configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(10)), httpClient: http)
        let handlers = WorkerProcess.handlers(
            pool: pool, twilio: client, vault: vault, publicURL: hooks.publicURL, logger: quiet("demo.worker"))
        // The pricer, on a short schedule: prices come from Twilio's API a little after sending.
        var pricing = Pricer.Configuration()
        pricing.schedule = PriceCheckSchedule(delays: [.milliseconds(500)], giveUpAfter: .seconds(5))
        pricing.interval = .milliseconds(200)
        let pricer = WorkerProcess.pricer(
            pool: pool, twilio: TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(10))),
            vault: vault, configuration: pricing, logger: quiet("demo.pricer"))
        let pricerTask = pricer.map { ServiceTask($0, logger: quiet("demo.pricer")) }
        defer { pricerTask?.stop() }
        var workerConfiguration = WorkerConfiguration()
        workerConfiguration.concurrency = 50
        workerConfiguration.retryPolicy = RetryPolicy(
            base: .milliseconds(100), cap: .seconds(1), minimum: .milliseconds(20))
        let worker = try WorkerProcess(
            configuration: .init(worker: workerConfiguration), pool: pool, handlers: handlers,
            logger: quiet("demo.worker"))
        let running = ServiceTask(group: worker.serviceGroup())
        try await showProgress(store: store, total: jobIDs.count)
        try await running.stopAndWait()
        try await http.shutdown()

        // Delivery outcomes arrive as status callbacks; the survey ends when the call does.
        _ = await eventually(timeout: .seconds(15)) {
            let open = try await pool.query(
                """
                SELECT (SELECT count(*) FROM switchboard.messages
                        WHERE status NOT IN ('delivered', 'undelivered', 'failed', 'read'))
                     + (SELECT count(*) FROM switchboard.voice_sessions WHERE status <> 'ended')
                """)[0].decode(Int.self, at: 0)
            return open == 0
        }
        // And each message's and call's price, which Twilio publishes after it was sent.
        _ = await eventually(timeout: .seconds(15)) { try await PriceStore(pool: pool).backlog().waiting == 0 }
        try await DemoReport(pool: pool, simulator: simulator, elapsed: ContinuousClock.now - started).print()
        if serve {
            let login =
                environmentToken == nil
                ? "user any, password \(hooks.dashboardToken!)" : "password: SWITCHBOARD_DASHBOARD_TOKEN"
            say("dashboard: \(hooks.publicURL)/dashboard (\(login)); Ctrl-C to stop")
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: UntilSignalled())], gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: quiet("demo")))
            try await group.run()
        }
        await pool.close()
    }

    private func showProgress(store: JobStore, total: Int) async throws {
        let interactive = isatty(1) == 1
        var lastLine = ContinuousClock.now - .seconds(10)
        while true {
            let counts = try await store.countByState()
            let finished = (counts[.completed] ?? 0) + (counts[.failed] ?? 0) + (counts[.cancelled] ?? 0)
            let line =
                "sending: \(finished)/\(total) done (\(counts[.running] ?? 0) in flight, \(counts[.available] ?? 0) waiting)"
            if interactive {
                print("\r" + line + "   ", terminator: "")
                fflush(nil)
            } else if ContinuousClock.now - lastLine >= .seconds(1) || finished >= total {
                say(line)
                lastLine = .now
            }
            if finished >= total { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        if interactive { print("") }
    }

    private func quiet(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        // The demo shows its own summary; shutting the simulator down is not worth a log line.
        logger.logLevel = .critical
        return logger
    }
}

/// A service that only waits for SIGINT/SIGTERM (the demo's `--serve`).
struct UntilSignalled: Service {
    func run() async throws { try? await gracefulShutdown() }
}
