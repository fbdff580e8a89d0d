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
        #expect(badURL.output.contains("port 'notaport'"))
        #expect(!badURL.output.contains("pw@"))
        let badFlag = try await switchboard(["worker", "--database-url", "postgres://localhost/db", "--lease", "soon"])
        #expect(badFlag.status == 64)
        #expect(badFlag.output.contains("--lease: 'soon' is not a duration"))
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
