import EmbeddedPostgres
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite struct ConnectionTests {
    @Test func refusedConnectionGivesAClearError() async throws {
        // Port 1 on loopback: nothing listens there.
        let configuration = try PostgresConfiguration("postgres://app:topsecret@127.0.0.1:1/db?connect_timeout=2")
        let error = await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(configuration) }
        #expect(error?.kind == .connectionFailed)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        #expect(error?.description.contains("topsecret") == false)
    }

    @Test func wrongPasswordIsAnAuthenticationError() async throws {
        let server = try await EmbeddedPostgres.start(
            .init(hbaRules: ["host all pwuser 127.0.0.1/32 scram-sha-256"]))
        defer { server.destroy() }
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(server.url))
        try await admin.query("CREATE ROLE pwuser LOGIN PASSWORD 'right-password'")
        let wrong = try PostgresConfiguration("postgres://pwuser:wrong-password@127.0.0.1:\(server.port)/postgres")
        let error = await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(wrong) }
        #expect(error?.kind == .authenticationFailed)
        #expect(error?.description.contains("wrong-password") == false)
        let right = try PostgresConfiguration("postgres://pwuser:right-password@127.0.0.1:\(server.port)/postgres")
        let connection = try await PostgresConnection.connect(right)
        #expect(try await connection.query("SELECT current_user").firstRow().decode(String.self, at: 0) == "pwuser")
    }

    @Test func serverErrorsCarrySQLStateWithoutValues() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE t (k text PRIMARY KEY)")
            try await db.pool.query("INSERT INTO t VALUES (\("secret-value"))")
            let error = await #expect(throws: PostgresError.self) {
                try await db.pool.query("INSERT INTO t VALUES (\("secret-value"))")
            }
            #expect(error?.sqlState == "23505")
            #expect(error?.constraint == "t_pkey")
            #expect(error?.detail?.contains("secret-value") == true)
            #expect(error?.description.contains("secret-value") == false)
            #expect(error?.description.contains("unique_violation") == true)

            let syntax = await #expect(throws: PostgresError.self) {
                try await db.pool.query("SELECT \("not-a-number")::int")
            }
            #expect(syntax?.sqlState == "22P02")
            #expect(syntax?.description.contains("not-a-number") == false)
        }
    }

    @Test func cancellingATaskCancelsTheStatement() async throws {
        try await TestDatabase.with { db in
            let task = Task { try await db.pool.query("SELECT pg_sleep(30)") }
            #expect(await db.running("SELECT pg_sleep(30)"))
            task.cancel()
            let result = await task.result
            #expect(throws: (any Error).self) { try result.get() }
            // The pool still works afterwards.
            let one = try await db.pool.query("SELECT 1").firstRow().decode(Int.self, at: 0)
            #expect(one == 1)
        }
    }

    /// A cancel request for a statement must never reach the statement that runs after it on the
    /// same connection. (They did: the repeated requests, 100 ms to 2 s after the first, fired at
    /// whatever was running by then, and a worker shutting down cancelled a campaign import.)
    @Test func aCancelledStatementsRequestsNeverHitTheNextStatement() async throws {
        try await TestDatabase.with { db in
            // One connection slot, so the next statement gets the same connection if it is reused.
            let single = PostgresPool(configuration: db.configuration, options: .init(maxConnections: 1))
            let task = Task { try await single.query("SELECT pg_sleep(30)") }
            #expect(await db.running("SELECT pg_sleep(30)"))
            task.cancel()
            _ = await task.result
            // Outlasts every repeat of the cancel request.
            let next = try await single.query("SELECT pg_sleep(2.5), 7").firstRow().decode(Int.self, at: 1)
            #expect(next == 7)
            await single.close()
        }
    }

    /// Blocking libpq calls must run on the connections' own threads. While more connections than
    /// there are cooperative-pool threads sit in `pg_sleep`, a task on the cooperative pool must
    /// still run; if libpq ran on the pool, it could only run after the sleeps ended. The check is
    /// on order of events, not on timing.
    @Test func libpqNeverBlocksTheCooperativePool() async throws {
        try await TestDatabase.with(poolSize: 8) { db in
            let sleepers = ProcessInfo.processInfo.activeProcessorCount + 2
            let finishedSleeps = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<sleepers {
                    group.addTask {
                        try await db.pool.query("SELECT pg_sleep(8)")
                        finishedSleeps.increment()
                    }
                }
                // Wait until every sleeper is inside pg_sleep on the server.
                let started = await eventually(timeout: .seconds(6), every: .milliseconds(5)) {
                    let rows = try? await PostgresConnection.connect(db.configuration).query(
                        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(8)' AND state = 'active' AND datname = current_database()"
                    )
                    return (try? rows?[0].decode(Int.self, at: 0)) == sleepers
                }
                #expect(started)
                // This runs on the cooperative pool; all sleepers must still be sleeping when it does.
                let sleepsDoneWhenPoolTaskRan = await Task.detached { finishedSleeps.value }.value
                #expect(sleepsDoneWhenPoolTaskRan == 0)
                try await group.waitForAll()
            }
            #expect(finishedSleeps.value == sleepers)
        }
    }
}
