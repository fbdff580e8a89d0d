import EmbeddedPostgres
import Foundation
import Postgres
import SwitchboardStore
import TestSupport
import Testing

/// The `switchboard` executable next to the test bundle (built by `swift test` / `swift build`).
func switchboardBinary() throws -> String {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let path = directory.appendingPathComponent("switchboard").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw ChildProcess.Failure(description: "switchboard executable not found at \(path): run `swift build` first")
    }
    return path
}

/// Runs the CLI to completion; returns exit status and output.
func switchboard(_ arguments: [String], database: TestDatabase? = nil) async throws -> (status: Int32, output: String) {
    var environment: [String: String] = ["SWITCHBOARD_DATABASE_URL": ""]
    if let database {
        environment["SWITCHBOARD_DATABASE_URL"] = database.configuration.parameters
            .map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
    }
    let child = try ChildProcess(try switchboardBinary(), arguments, environment: environment)
    let status = await child.wait()
    return (status, child.output)
}

@Suite struct CLITests {
    @Test func migrateCreatesTheSchemaOnceAndReportsStatus() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("DROP SCHEMA switchboard CASCADE")
            let first = try await switchboard(["migrate"], database: db)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("applied 0001_jobs.sql"))
            let second = try await switchboard(["migrate"], database: db)
            #expect(second.output.contains("schema is up to date"))
            let status = try await switchboard(["migrate", "--status"], database: db)
            #expect(status.output.contains("applied  0001_jobs.sql"))
        }
    }

    @Test func badUsageExits64AndSaysWhatToType() async throws {
        let noDatabase = try await switchboard(["migrate"])
        #expect(noDatabase.status == 64)
        #expect(noDatabase.output.contains("--database-url"))
        let badURL = try await switchboard(["migrate", "--database-url", "postgres://u:pw@localhost:notaport/db"])
        #expect(badURL.status == 64)
        #expect(badURL.output.contains("the port is not a number"), "\(badURL.output)")
        #expect(!badURL.output.contains("pw@"))
        let noClaims = try await switchboard([
            "worker", "--database-url", "postgres://localhost/db", "--concurrency", "4", "--claims-in-flight", "5",
        ])
        #expect(noClaims.status == 64)
        #expect(
            noClaims.output.contains("--claims-in-flight: 5 must be between 1 and the concurrency"),
            "\(noClaims.output)")
        let badFlag = try await switchboard(["worker", "--database-url", "postgres://localhost/db", "--lease", "soon"])
        #expect(badFlag.status == 64)
        #expect(badFlag.output.contains("--lease: 'soon' is not a duration"))
        // A lease too short for a whole Twilio request would fence every send: refused at start.
        let shortLease = try await switchboard([
            "worker", "--database-url", "postgres://localhost/db", "--lease", "20s", "--twilio-timeout", "30s",
        ])
        #expect(shortLease.status == 64)
        #expect(
            shortLease.output.contains("--lease: a lease of 20s is too short for a Twilio timeout of 30s"),
            "\(shortLease.output)")
        // Archiving a job after the pruner would have deleted it makes no sense: refused, naming it.
        let lateArchive = try await switchboard([
            "worker", "--database-url", "postgres://localhost/db", "--archive-after", "8d", "--retention", "7d",
        ])
        #expect(lateArchive.status == 64)
        #expect(
            lateArchive.output.contains("--archive-after: must be shorter than the retention"), "\(lateArchive.output)")
        let badArchive = try await switchboard([
            "worker", "--database-url", "postgres://localhost/db", "--archive-after", "later",
        ])
        #expect(badArchive.status == 64)
        #expect(badArchive.output.contains("--archive-after: 'later' is not a duration"), "\(badArchive.output)")
        let shortEvents = try await switchboard([
            "worker", "--database-url", "postgres://localhost/db", "--event-retention", "5m",
        ])
        #expect(shortEvents.status == 64)
        #expect(shortEvents.output.contains("--event-retention: must be at least 1h"), "\(shortEvents.output)")
        for (flag, value, message) in [
            ("--price-give-up", "10s", "--price-give-up: must be at least 1m"),
            ("--price-give-up", "never", "--price-give-up: 'never' is not a duration"),
            ("--price-concurrency", "99", "--price-concurrency"),
        ] {
            let refused = try await switchboard(["worker", "--database-url", "postgres://localhost/db", flag, value])
            #expect(refused.status == 64 && refused.output.contains(message), "\(flag) \(value): \(refused.output)")
        }
        let lateMessages = try await switchboard([
            "worker", "--database-url", "postgres://localhost/db", "--message-archive-after", "30d",
            "--message-retention", "7d",
        ])
        #expect(lateMessages.status == 64)
        #expect(
            lateMessages.output.contains("--message-archive-after: must be shorter than the message retention"),
            "\(lateMessages.output)")
    }

    @Test func webhookSettingsAreCheckedAtStartUp() async throws {
        let database = ["--database-url", "postgres://localhost/db"]
        let missing = try await switchboard(["webhook"] + database)
        #expect(missing.status == 64)
        #expect(missing.output.contains("SWITCHBOARD_PUBLIC_URL: required (or --public-url)"), "\(missing.output)")
        let notHTTP = try await switchboard(["webhook", "--public-url", "ftp://hooks.example.com"] + database)
        #expect(notHTTP.status == 64)
        #expect(notHTTP.output.contains("'ftp://hooks.example.com' is not an http(s) URL"), "\(notHTTP.output)")
        let window = try await switchboard(
            ["webhook", "--public-url", "https://hooks.example.com", "--reply-window", "soon"] + database)
        #expect(window.status == 64)
        #expect(window.output.contains("--reply-window"))
        let worker = try await switchboard(["worker", "--public-url", "https://hooks.example.com/?x=1"] + database)
        #expect(worker.status == 64)
        #expect(
            worker.output.contains(
                "--public-url: 'https://hooks.example.com/?x=1' is not an http(s) URL without a query"),
            "\(worker.output)")
    }

    @Test func workerRefusesAnUnmigratedDatabase() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("DROP SCHEMA switchboard CASCADE")
            let result = try await switchboard(["worker"], database: db)
            #expect(result.status == 1)
            #expect(result.output.contains("run `switchboard migrate` first"), "\(result.output)")
        }
    }

    @Test func enqueueValidatesAndHonoursIdempotencyKeys() async throws {
        try await TestDatabase.with { db in
            let bad = try await switchboard(["enqueue", "noop", "--payload", "[1]"], database: db)
            #expect(bad.status == 64)
            #expect(bad.output.contains("payload: must be a JSON object"))
            let first = try await switchboard(["enqueue", "noop", "--key", "k1", "--json"], database: db)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains(#""existing": false"#))
            let second = try await switchboard(["enqueue", "noop", "--key", "k1", "--json"], database: db)
            #expect(second.output.contains(#""existing": true"#))
            let jobs = try await db.jobCount()
            #expect(jobs == 1)
        }
    }

    /// The README's first command: a throwaway PostgreSQL, the simulator, a webhook and a worker,
    /// no credentials.
    @Test func theDemoRunsEndToEndWithoutCredentials() async throws {
        let demo = try ChildProcess(try switchboardBinary(), ["demo"])
        let status = await demo.wait()
        #expect(status == 0, "\(demo.output)")
        #expect(demo.output.contains("sending: 206/206 done"), "\(demo.output)")
        #expect(demo.output.contains("summary after"))
        #expect(demo.output.contains("  cost: ") && demo.output.contains(" USD for "), "\(demo.output)")
        #expect(demo.output.contains("voice-agent survey to +15557770100: completed"), "\(demo.output)")
    }

    @Test func workerProcessesJobsAndShutsDownGracefullyOnSIGTERM() async throws {
        try await TestDatabase.with { db in
            try await db.store.enqueueMany((0..<200).map { _ in NewJob(kind: "noop") })
            let slow = try await db.store.enqueue(
                NewJob(kind: "noop", payload: PostgresJSON(text: #"{"sleep_ms": 600000}"#)))
            let conninfo = db.configuration.parameters.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
            let worker = try ChildProcess(
                try switchboardBinary(), ["worker", "--grace-period", "500ms", "--poll-interval", "200ms"],
                environment: ["SWITCHBOARD_DATABASE_URL": conninfo])
            #expect(await eventually { try await db.jobCount(state: "completed") == 200 })
            #expect(await eventually { try await db.store.job(id: slow.id)?.state == .running })
            worker.signal(SIGTERM)
            let status = await worker.wait()
            #expect(status == 0, "\(worker.output)")
            let record = try #require(try await db.store.job(id: slow.id))
            #expect(record.state == .available)
            #expect(record.attempt == 0)
            #expect(record.errors.map(\.kind) == ["interrupted"])
            #expect(worker.output.contains("worker shutting down"))
        }
    }
}

@Suite struct SendingCLITests {
    @Test func accountsAddReadsTheTokenFromStdinAndNeverPrintsIt() async throws {
        try await TestDatabase.with { db in
            let conninfo = db.configuration.parameters.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
            let key = "k1:" + Data(repeating: 7, count: 32).base64EncodedString()
            let token = "cli-secret-token-0123456789"
            let child = try ChildProcess(
                "/bin/sh",
                [
                    "-c",
                    "printf '%s' \"$TOKEN\" | \"$0\" accounts add --name main --sid AC0123456789abcdef0123456789abcdef",
                    try switchboardBinary(),
                ],
                environment: ["SWITCHBOARD_DATABASE_URL": conninfo, "SWITCHBOARD_MASTER_KEY": key, "TOKEN": token])
            let status = await child.wait()
            #expect(status == 0, "\(child.output)")
            #expect(!child.output.contains(token))
            let list = try ChildProcess(
                try switchboardBinary(), ["accounts", "list"],
                environment: ["SWITCHBOARD_DATABASE_URL": conninfo, "SWITCHBOARD_MASTER_KEY": key])
            #expect(await list.wait() == 0)
            #expect(list.output.contains("main\tAC0123456789abcdef0123456789abcdef\tkey k1\tok"))
            #expect(!list.output.contains(token))
            let help = try await switchboard(["accounts", "add", "--help"])
            #expect(!help.output.contains(token))
            let noKey = try await switchboard(["accounts", "list"], database: db)
            #expect(noKey.status == 64)
            #expect(noKey.output.contains("SWITCHBOARD_MASTER_KEY"))
        }
    }

    @Test func sendRefusesBadInputNamingTheField() async throws {
        try await TestDatabase.with { db in
            let missing = try await switchboard(
                [
                    "send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+15559876543", "--body",
                    "Hi {{name}}",
                ], database: db)
            #expect(missing.status == 64)
            #expect(missing.output.contains("body: variable 'name' is missing"))
            let badNumber = try await switchboard(
                ["send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+1555", "--body", "Hi"],
                database: db)
            #expect(badNumber.output.contains("to: '+1555' is not a valid E.164 number: too short"))
            let unknownKind = try await switchboard(["enqueue", "smss", "--payload", "{}"], database: db)
            #expect(unknownKind.status == 64)
            #expect(unknownKind.output.contains("kind: 'smss' is not a known job kind"))
            // Issue 11 §2: 5,000 nested blocks segfaulted `send`; §12: a job for an account or pool
            // that does not exist could only fail at the worker.
            let deep = String(repeating: "{{#if a}}", count: 5000) + "x" + String(repeating: "{{/if}}", count: 5000)
            let nested = try await switchboard(
                ["send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+15559876543", "--body", deep],
                database: db)
            #expect(nested.status == 64 && nested.output.contains("body: blocks are nested more than 32 deep"))
            let nobody = try await switchboard(
                [
                    "send", "sms", "--account", "nosuch", "--from", "+15557654321", "--to", "+15559876543", "--body",
                    "Hi",
                ],
                database: db)
            #expect(
                nobody.status == 64 && nobody.output.contains("--account: no account named 'nosuch'"),
                "\(nobody.output)")
            try await AccountStore(
                pool: db.pool, vault: try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            ).upsert(
                name: "main", accountSID: "AC" + String(repeating: "5e0d", count: 8), secret: "send-test-token-0123")
            let noPool = try await switchboard(
                ["send", "sms", "--account", "main", "--pool", "nosuch", "--to", "+15559876543", "--body", "Hi"],
                database: db)
            #expect(noPool.status == 64 && noPool.output.contains("--pool: account 'main' has no pool named 'nosuch'"))
            #expect(try await db.jobCount() == 0, "nothing was queued")
            let ok = try await switchboard(
                [
                    "send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+15559876543", "--body",
                    "Hi {{name}}", "--var", "name=Ana", "--json",
                ],
                database: db)
            #expect(ok.status == 0, "\(ok.output)")
            let body = try await db.pool.query("SELECT payload->>'body' FROM switchboard.all_jobs").firstRow().decode(
                String.self, at: 0)
            #expect(body == "Hi Ana")
        }
    }
}
