import EmbeddedPostgres
import Foundation
import Postgres
import SwitchboardCore
import TestSupport
import Testing

/// Workers and webhooks through PgBouncer in transaction pooling mode (Debian's `pgbouncer`): no
/// session state, no LISTEN (`worker --no-listen`), so any server connection may carry any
/// transaction. Sends, status callbacks and a voice interview must work as they do directly.
@Suite struct PgBouncerTests {
    /// Starts pgbouncer in front of the test database; returns the process and its port.
    static func startBouncer(_ db: TestDatabase, directory: String) throws -> (ChildProcess, Int) {
        let port = try freeLoopbackPort()
        let server = Dictionary(db.configuration.parameters.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        try "\"postgres\" \"\"\n".write(toFile: directory + "/users.txt", atomically: true, encoding: .utf8)
        try """
        [databases]
        * = host=\(server["host"] ?? "127.0.0.1") port=\(server["port"] ?? "5432")
        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = \(port)
        unix_socket_dir =
        auth_type = trust
        auth_file = \(directory)/users.txt
        pool_mode = transaction
        max_client_conn = 300
        default_pool_size = 8
        ignore_startup_parameters = extra_float_digits,options,application_name
        logfile = \(directory)/pgbouncer.log
        pidfile = \(directory)/pgbouncer.pid
        """.write(toFile: directory + "/pgbouncer.ini", atomically: true, encoding: .utf8)
        let asRoot = getuid() == 0
        if asRoot {
            _ = try ChildProcess("/bin/chown", ["-R", "postgres", directory]).waitBlocking()
        }
        let bouncer = try ChildProcess(
            asRoot ? "/usr/sbin/runuser" : "/usr/sbin/pgbouncer",
            (asRoot ? ["-u", "postgres", "--", "/usr/sbin/pgbouncer"] : []) + [directory + "/pgbouncer.ini"])
        return (bouncer, port)
    }

    @Test func sendsCallbacksAndInterviewsWorkThroughTransactionPooling() async throws {
        try await TestDatabase.with { db in
            let directory = "/tmp/sb-bouncer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let (bouncer, bouncerPort) = try Self.startBouncer(db, directory: directory)
            defer {
                // As root, `runuser` is the child we started; pgbouncer is its child: stop it by its pid.
                if let text = try? String(contentsOfFile: directory + "/pgbouncer.pid", encoding: .utf8),
                    let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
                {
                    kill(pid, SIGKILL)
                }
                bouncer.signal(SIGKILL)
            }
            let dbname = db.configuration.parameters.first { $0.key == "dbname" }?.value ?? db.name
            let throughBouncer = "host=127.0.0.1 port=\(bouncerPort) dbname=\(dbname) user=postgres"
            let bouncerPool = PostgresPool(
                configuration: try PostgresConfiguration(throughBouncer), options: .init(maxConnections: 2))
            #expect(
                await eventually(timeout: .seconds(10)) { try await bouncerPool.query("SELECT 1").count == 1 },
                "pgbouncer answers: \(bouncer.output)")
            await bouncerPool.close()

            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "b0cc", count: 8), token: "bouncer-test-token-0123",
                simulatorArguments: ["--caller", "+15550009011=Ana Lima|None."])
            defer { sandbox.stop() }
            var environment = sandbox.environment
            environment["SWITCHBOARD_DATABASE_URL"] = throughBouncer
            let webhookPort = try freeLoopbackPort()
            environment["SWITCHBOARD_PUBLIC_URL"] = "http://127.0.0.1:\(webhookPort)"
            var processes: [ChildProcess] = []
            defer { for process in processes { process.signal(SIGKILL) } }
            processes.append(
                try ChildProcess(
                    try switchboardBinary(), ["webhook", "--host", "127.0.0.1", "--port", "\(webhookPort)"],
                    environment: environment))
            for _ in 0..<2 {
                processes.append(
                    try ChildProcess(
                        try switchboardBinary(), ["worker", "--no-listen", "--poll-interval", "200ms"],
                        environment: environment))
            }
            try await db.pool.query(
                """
                SELECT switchboard.enqueue('sms', jsonb_build_object('account', 'main', 'from', '+15557654321',
                    'to', '+1555000' || lpad(n::text, 4, '0'), 'body', 'Through the bouncer ' || n))
                FROM generate_series(1, 40) AS n
                """)
            try await db.pool.query(
                """
                SELECT switchboard.enqueue('voice_agent', jsonb_build_object('account', 'main', 'to', '+15550009011',
                    'from', '+15557654321', 'agentType', 'questions', 'questions', \(ExampleFlows.screening)::jsonb))
                """)
            let settled = await eventually(timeout: .seconds(60)) {
                try await db.integer(
                    """
                    SELECT (SELECT count(*) FROM switchboard.all_jobs j WHERE j.kind = 'sms'
                                AND j.result->>'messageStatus' = 'delivered')
                         + (SELECT count(*) FROM switchboard.voice_sessions WHERE status = 'ended')
                    """) == 41
            }
            #expect(settled, "\(processes.map(\.output))")
            let outcome = try await db.pool.query("SELECT outcome FROM switchboard.voice_sessions").firstRow().decode(
                String?.self, at: 0)
            #expect(outcome == "end_call")
            #expect(try await db.integer("SELECT count(*) FROM switchboard.all_jobs WHERE state <> 'completed'") == 0)
            for process in processes { process.signal(SIGTERM) }
            for process in processes { #expect(await process.wait() == 0, "\(process.output)") }
            let log = (try? String(contentsOfFile: directory + "/pgbouncer.log", encoding: .utf8)) ?? ""
            #expect(!log.contains("ERROR"), "\(log.suffix(2000))")
            // The processes really went through it: many client logins, to this database.
            let logins = log.components(separatedBy: "login attempt: db=\(dbname)").count - 1
            #expect(logins >= 3, "\(logins) logins through pgbouncer")
            print("pgbouncer: \(logins) client logins")
        }
    }
}
