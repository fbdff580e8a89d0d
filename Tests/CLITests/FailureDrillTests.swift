import EmbeddedPostgres
import Foundation
import Postgres
import SwitchboardCore
import TestSupport
import Testing

/// Failure drills: the processes of a deployment, each "host" on a loopback address of its own
/// (PostgreSQL 127.0.0.1, the Twilio simulator 127.0.0.2, webhook hosts 127.0.0.3 and 127.0.0.4
/// behind a balancer on 127.0.0.5; worker hosts only dial out), with one part killed or restarted
/// in the middle of the work. Every drill ends with the same audit: the simulator's own record
/// holds each message exactly once, the database recorded exactly those messages, and every job
/// completed (none left `running`).
@Suite struct FailureDrillTests {
    static let simulatorHost = "127.0.0.2"

    @Test func aWorkerHostKilledMidCampaignLosesAndDuplicatesNothing() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "d0e1", count: 8), token: "drill-kill-token-0123",
                simulatorHost: Self.simulatorHost, simulatorArguments: ["--log-level", "debug"])
            defer { sandbox.stop() }
            let webhooks = try await WebhookHosts.start(
                sandbox, hosts: ["127.0.0.3", "127.0.0.4"], balancer: "127.0.0.5")
            defer { webhooks.stop() }
            var environment = sandbox.environment
            environment["SWITCHBOARD_PUBLIC_URL"] = webhooks.publicURL
            try await Self.queueCampaign(sandbox, recipients: 2000)

            let hostA = try Self.startWorker(environment)
            let hostB = try Self.startWorker(environment)
            defer { for host in [hostA, hostB] { host.signal(SIGKILL) } }
            #expect(
                await eventually(timeout: .seconds(90)) {
                    try await db.integer("SELECT count(*) FROM switchboard.messages") >= 600
                }, "\(hostA.output)")
            hostA.signal(SIGKILL)
            _ = await hostA.wait()
            let orphaned = try await db.integer(
                "SELECT count(*) FROM switchboard.all_jobs WHERE state = 'running' AND locked_by LIKE \("%:\(hostA.pid):%")"
            )
            #expect(orphaned > 0, "the killed host held jobs when it died")

            let finished = await eventually(timeout: .seconds(180)) {
                try await db.jobCount(state: "completed") == 2000
            }
            let states = try await Self.jobStates(db)
            #expect(finished, "\(states) \(hostB.output.suffix(3000))")
            try await Self.auditExactlyOnce(db, sandbox, expected: 2000)
            // The surviving webhook hosts applied every message's status callbacks.
            let delivered = await eventually(timeout: .seconds(30)) {
                try await db.integer("SELECT count(*) FROM switchboard.messages WHERE status = 'delivered'") == 2000
            }
            let statuses = try await db.pool.query(
                """
                SELECT status || ' ' || count(*) FROM switchboard.messages GROUP BY status
                UNION ALL SELECT 'pending ' || status || ' ' || count(*) FROM switchboard.pending_statuses GROUP BY status
                """
            ).map { try $0.decode(String.self, at: 0) }
            let failedCallbacks = sandbox.simulator.output.split(separator: "\n").filter {
                $0.contains("callback failed")
            }
            #expect(
                delivered,
                "\(statuses); \(failedCallbacks.count) callbacks failed: \(failedCallbacks.prefix(3)) \(webhooks.output)"
            )
            hostB.signal(SIGTERM)
            #expect(await hostB.wait() == 0)
        }
    }

    @Test func postgresRestartedMidCampaignEverythingReconnectsAndFinishes() async throws {
        let server = try await EmbeddedPostgres.start()
        defer { server.destroy() }
        let conninfo = "host=127.0.0.1 port=\(server.port) dbname=postgres user=postgres"
        let migrate = try ChildProcess(try switchboardBinary(), ["migrate", "--database-url", conninfo])
        #expect(await migrate.wait() == 0, "\(migrate.output)")
        let sandbox = try await CLISandbox.start(
            conninfo: conninfo, accountSID: "AC" + String(repeating: "d0e2", count: 8),
            token: "drill-restart-token-0123", simulatorHost: Self.simulatorHost)
        defer { sandbox.stop() }
        let pool = PostgresPool(configuration: try PostgresConfiguration(conninfo), options: .init(maxConnections: 2))
        defer { Task { await pool.close() } }
        func count(_ sql: PostgresQuery) async throws -> Int {
            try await pool.query(sql).firstRow().decode(Int.self, at: 0)
        }
        try await Self.queueCampaign(sandbox, recipients: 1000)
        let webhookPort = try freeLoopbackPort()
        let webhook = try sandbox.launch([
            "webhook", "--host", "127.0.0.3", "--port", "\(webhookPort)", "--public-url",
            "http://127.0.0.3:\(webhookPort)",
        ])
        let workers = [try Self.startWorker(sandbox.environment), try Self.startWorker(sandbox.environment)]
        defer { for process in workers + [webhook] { process.signal(SIGKILL) } }
        #expect(
            await eventually(timeout: .seconds(90)) {
                try await count("SELECT count(*) FROM switchboard.messages") >= 300
            })

        let sentBeforeCrash = try await count("SELECT count(*) FROM switchboard.messages")
        try server.stopServer()  // immediate: like a crash, in the middle of sends and completions
        #expect(sentBeforeCrash < 1000, "the crash came in the middle (\(sentBeforeCrash) sent)")
        try await Task.sleep(for: .seconds(3))
        try server.startServer()

        let finished = await eventually(timeout: .seconds(180)) {
            try await count("SELECT count(*) FROM switchboard.all_jobs WHERE state = 'completed'") == 1000
        }
        #expect(finished, "\(workers.map { $0.output.suffix(2000) })")
        let ready = await eventually(timeout: .seconds(30)) {
            let probe = try ChildProcess("/usr/bin/curl", ["-s", "http://127.0.0.3:\(webhookPort)/ready"])
            return await probe.wait() == 0 && probe.output == "ready"
        }
        #expect(ready, "the webhook reconnected: \(webhook.output)")
        let received = try await sandbox.receivedMessages()
        #expect(received.count == 1000 && Set(received.map(\.to)).count == 1000, "\(received.count) received")
        let recorded = try await pool.query("SELECT sid FROM switchboard.messages").map {
            try $0.decode(String.self, at: 0)
        }
        #expect(Set(recorded) == Set(received.map(\.sid)) && recorded.count == 1000)
        #expect(try await count("SELECT count(*) FROM switchboard.all_jobs WHERE state <> 'completed'") == 0)
        for process in workers + [webhook] { process.signal(SIGTERM) }
        for process in workers + [webhook] { #expect(await process.wait() == 0, "\(process.output.suffix(2000))") }
    }

    @Test func rateLimitedFailingAndSilentTwilioStillDeliversEachMessageOnce() async throws {
        try await TestDatabase.with { db in
            // One in five requests gets 429, one in twenty 500, and one in twenty is created but
            // answered only after the worker gave up waiting (it must find the message, not resend).
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "d0e3", count: 8), token: "drill-faults-token-0123",
                simulatorHost: Self.simulatorHost,
                simulatorArguments: [
                    "--fail-429", "0.2", "--fail-500", "0.05", "--drop-response", "0.05", "--drop-hold", "3s",
                ])
            defer { sandbox.stop() }
            try await Self.queueCampaign(sandbox, recipients: 300)
            let workers = [
                try Self.startWorker(sandbox.environment, extra: ["--twilio-timeout", "1s"]),
                try Self.startWorker(sandbox.environment, extra: ["--twilio-timeout", "1s"]),
            ]
            defer { for worker in workers { worker.signal(SIGKILL) } }
            let finished = await eventually(timeout: .seconds(240)) { try await db.jobCount(state: "completed") == 300 }
            let states = try await Self.jobStates(db)
            #expect(finished, "\(states) \(workers[0].output.suffix(2000))")
            try await Self.auditExactlyOnce(db, sandbox, expected: 300)
            let retried = try await db.integer(
                "SELECT count(*) FROM switchboard.all_jobs WHERE jsonb_array_length(errors) > 0")
            #expect(retried > 30, "the faults were met and retried (\(retried) jobs)")
            let adopted = try await db.integer("SELECT count(*) FROM switchboard.messages WHERE origin = 'reconciled'")
            #expect(adopted > 0, "messages whose answer was dropped were found at Twilio, not sent again")
        }
    }

    @Test func aWebhookHostKilledMidInterviewTheCallGoesOnOnTheOther() async throws {
        try await TestDatabase.with { db in
            // The caller takes a second before each answer, so the kill lands between turns.
            let continuedByGather = try await Self.interviewDrill(db, transport: "gather", answerDelay: "1s") {
                webhooks in
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        try await db.integer("SELECT coalesce(max(turn), 0) FROM switchboard.voice_sessions") >= 1
                    }, "\(webhooks.output)")
                webhooks.processes[0].signal(SIGKILL)
                let servedBeforeKill = webhooks.proxy.servedPerBackend
                return {
                    let served = webhooks.proxy.servedPerBackend
                    #expect(
                        served[1] > servedBeforeKill[1], "the surviving host served the turns after the kill: \(served)"
                    )
                    #expect(webhooks.proxy.failoverCount > 0, "a turn meant for the dead host went to the other one")
                }
            }
            #expect(!continuedByGather, "a <Gather> call has no relay to continue from")
        }
    }

    /// A relay call (ConversationRelay) whose webhook host is stopped mid-call: with SIGTERM the
    /// host hands the call off (`end`) and exits; when killed, its socket just breaks. Either way
    /// Twilio requests the `<Connect action>`, the other host continues the interview by
    /// `<Gather>` from the session in Postgres, and the call completes with every answer.
    @Test(arguments: [SIGTERM, SIGKILL])
    func aWebhookHostStoppedMidRelayCallTheCallGoesOnByGather(signal: Int32) async throws {
        try await TestDatabase.with { db in
            let continued = try await Self.interviewDrill(
                db, transport: "relay", answerDelay: "700ms", webhookArguments: ["--drain-timeout", "0s"]
            ) { webhooks in
                let live = await eventually(timeout: .seconds(30)) {
                    try await db.integer("SELECT coalesce(max(turn), 0) FROM switchboard.voice_sessions") >= 1
                        && webhooks.proxy.liveSocketsPerBackend.contains(1)
                }
                #expect(live, "the call is live on a socket: \(webhooks.output)")
                let host = try #require(webhooks.proxy.liveSocketsPerBackend.firstIndex(of: 1))
                webhooks.processes[host].signal(signal)
                if signal == SIGTERM {
                    #expect(await webhooks.processes[host].wait() == 0, "a drained host exits cleanly")
                    #expect(
                        webhooks.processes[host].output.contains("handed_off=1"), "\(webhooks.processes[host].output)")
                }
                return {}
            }
            #expect(continued, "the call went on by <Gather> after the relay ended")
        }
    }

    /// The screening interview (Bo Chen's four answers, each after `answerDelay`) placed by a
    /// worker through two webhook hosts behind a balancer; `stop` stops a host mid-call and
    /// returns what to check once the call ended. Then the call must have completed with every
    /// answer. Returns whether it went on by <Gather> after a relay session ended.
    static func interviewDrill(
        _ db: TestDatabase, transport: String, answerDelay: String, webhookArguments: [String] = [],
        stop: (WebhookHosts) async throws -> () -> Void
    ) async throws -> Bool {
        let sandbox = try await CLISandbox.start(
            db, accountSID: "AC" + String(repeating: "d0e4", count: 8), token: "drill-webhook-token-0123",
            simulatorHost: Self.simulatorHost,
            simulatorArguments: [
                "--caller", "+15550009012=Bo Chen|senior level|I led a team of six|next month",
                "--answer-delay", answerDelay,
            ])
        defer { sandbox.stop() }
        let webhooks = try await WebhookHosts.start(
            sandbox, hosts: ["127.0.0.3", "127.0.0.4"], balancer: "127.0.0.5", extra: webhookArguments)
        defer { webhooks.stop() }
        var environment = sandbox.environment
        environment["SWITCHBOARD_PUBLIC_URL"] = webhooks.publicURL
        let worker = try Self.startWorker(environment)
        defer { worker.signal(SIGKILL) }
        try await db.pool.query(
            """
            SELECT switchboard.enqueue('voice_agent', jsonb_build_object('account', 'main', 'to', '+15550009012',
                'from', '+15557654321', 'agentType', 'questions', 'transport', \(transport)::text,
                'questions', \(ExampleFlows.screening)::jsonb))
            """)
        let check = try await stop(webhooks)
        let ended = await eventually(timeout: .seconds(60)) {
            try await db.integer("SELECT count(*) FROM switchboard.voice_sessions WHERE status = 'ended'") == 1
        }
        #expect(ended, "\(webhooks.output)")
        check()
        let row = try await db.pool.query(
            """
            SELECT s.outcome, j.result->'answers', s.relay_ended_turn FROM switchboard.voice_sessions s
            JOIN switchboard.all_jobs j ON j.id = s.job_id
            """)[0]
        #expect(try row.decode(String?.self, at: 0) == "completed")
        let answers = try row.decode(PostgresJSON.self, at: 1).decode([String: String].self)
        #expect(
            answers == [
                "name": "Bo Chen", "experience": "senior level", "leadership_experience": "I led a team of six",
                "availability": "next month",
            ], "\(answers)")
        return try row.decode(Int?.self, at: 2) != nil
    }

    // MARK: helpers

    /// Adds ten numbers (40 segments/s each) in a pool and queues a campaign to `recipients`
    /// distinct recipients through `campaign import`.
    static func queueCampaign(_ sandbox: CLISandbox, recipients: Int) async throws {
        var poolArguments = ["pools", "create", "--account", "main", "--name", "drill"]
        for index in 0..<10 {
            let number = "+1555700\(String(format: "%04d", index))"
            try await sandbox.run([
                "numbers", "add", "--account", "main", "--number", number, "--rate", "40", "--burst", "4",
            ])
            poolArguments += ["--number", number]
        }
        try await sandbox.run(poolArguments)
        try await sandbox.run([
            "campaign", "create", "--account", "main", "--name", "drill", "--pool", "drill", "--body", "Drill {{n}}",
        ])
        let path = NSTemporaryDirectory() + "drill-\(UInt32.random(in: 0...UInt32.max)).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let rows = (0..<recipients).map { "+1212\(String(format: "%07d", 5_550_000 + $0)),\($0)" }
        try (["phone,n"] + rows).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let imported = try await sandbox.run([
            "campaign", "import", "--account", "main", "--name", "drill", "--file", path,
        ])
        #expect(imported.contains("queued \(recipients),"), "\(imported)")
    }

    /// A worker "host": its own process session, short lease and rescue interval so a dead host's
    /// jobs come back within seconds (and a Twilio deadline short enough for that lease).
    static func startWorker(_ environment: [String: String], extra: [String] = []) throws -> ChildProcess {
        let timeout = extra.contains("--twilio-timeout") ? [] : ["--twilio-timeout", "2s"]
        return try ChildProcess(
            try switchboardBinary(),
            [
                "worker", "--poll-interval", "200ms", "--lease", "6s", "--rescue-interval", "1s", "--concurrency", "25",
            ] + timeout + extra,
            environment: environment, newSession: true)
    }

    static func auditExactlyOnce(_ db: TestDatabase, _ sandbox: CLISandbox, expected: Int) async throws {
        let received = try await sandbox.receivedMessages()
        #expect(received.count == expected, "the simulator received \(received.count) messages")
        #expect(Set(received.map(\.to)).count == expected, "each recipient exactly once")
        let recorded = try await db.pool.query("SELECT sid FROM switchboard.messages").map {
            try $0.decode(String.self, at: 0)
        }
        #expect(recorded.count == expected && Set(recorded) == Set(received.map(\.sid)))
        #expect(try await db.integer("SELECT count(*) FROM switchboard.all_jobs WHERE state <> 'completed'") == 0)
    }

    static func jobStates(_ db: TestDatabase) async throws -> String {
        try await db.pool.query("SELECT state::text, count(*) FROM switchboard.all_jobs GROUP BY 1 ORDER BY 1").map {
            "\(try $0.decode(String.self, at: 0))=\(try $0.decode(Int.self, at: 1))"
        }.joined(separator: " ")
    }
}

/// Webhook "hosts": `switchboard webhook` processes on their own addresses behind a balancer that
/// alternates between them and retries a request a dead host does not answer.
struct WebhookHosts {
    let processes: [ChildProcess]
    let proxy: RoundRobinProxy
    let proxyTask: Task<Void, any Error>

    var publicURL: String { "http://\(proxy.host):\(proxy.port)" }
    var output: String { processes.map { $0.output.suffix(2000) }.joined(separator: "\n---\n") }

    static func start(_ sandbox: CLISandbox, hosts: [String], balancer: String, extra: [String] = []) async throws
        -> WebhookHosts
    {
        let proxyPort = try freeLoopbackPort()
        var environment = sandbox.environment
        environment["SWITCHBOARD_PUBLIC_URL"] = "http://\(balancer):\(proxyPort)"
        var backends: [String] = []
        var processes: [ChildProcess] = []
        for host in hosts {
            let port = try freeLoopbackPort()
            backends.append("http://\(host):\(port)")
            processes.append(
                try ChildProcess(
                    try switchboardBinary(), ["webhook", "--host", host, "--port", "\(port)"] + extra,
                    environment: environment)
            )
        }
        let proxy = RoundRobinProxy(host: balancer, port: proxyPort, backends: backends)
        let hosts = WebhookHosts(processes: processes, proxy: proxy, proxyTask: Task { try await proxy.run() })
        for backend in backends {
            let ready = await eventually(timeout: .seconds(20)) {
                let probe = try ChildProcess("/usr/bin/curl", ["-s", "\(backend)/ready"])
                return await probe.wait() == 0 && probe.output == "ready"
            }
            #expect(ready, "\(backend) ready: \(hosts.output)")
        }
        return hosts
    }

    func stop() {
        proxyTask.cancel()
        for process in processes { process.signal(SIGKILL) }
    }
}
