import EmbeddedPostgres
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite struct PoolTests {
    @Test func neverOpensMoreThanItsLimit() async throws {
        try await TestDatabase.with(poolSize: 3) { db in
            let peak = Locked((current: 0, max: 0))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await db.pool.withConnection { connection in
                            peak.withLock {
                                $0.current += 1; $0.max = max($0.max, $0.current)
                            }
                            try await connection.query("SELECT pg_sleep(0.02)")
                            peak.withLock { $0.current -= 1 }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let highest = peak.withLock { $0.max }
            #expect(highest <= 3, "never more connections than the limit")
            #expect(highest >= 2, "the tasks really shared the pool")
            #expect(await db.pool.connectionCount <= 3)
        }
    }

    @Test func waitingForAConnectionTimesOutWithAClearError() async throws {
        try await TestDatabase.with { db in
            let pool = PostgresPool(
                configuration: db.configuration, options: .init(maxConnections: 1, acquireTimeout: .milliseconds(300)))
            let holder = Task { try await pool.withConnection { try await $0.query("SELECT pg_sleep(2)") } }
            #expect(await db.running("SELECT pg_sleep(2)"))
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error?.kind == .poolTimeout)
            _ = try await holder.value
            await pool.close()
        }
    }

    @Test func brokenConnectionsAreDiscarded() async throws {
        try await TestDatabase.with(poolSize: 2) { db in
            let pid = try await db.pool.withConnection { await $0.backendPID() }
            // Kill the idle pooled connection from the server side.
            let admin = try await PostgresConnection.connect(db.configuration)
            try await admin.query("SELECT pg_terminate_backend(\(pid))")
            _ = await eventually {
                try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid)").firstRow().decode(
                    Int.self, at: 0) == 0
            }
            // The health check at checkout notices and the query runs on a new connection.
            let newPID = try await db.pool.withConnection {
                try await $0.query("SELECT pg_backend_pid()").firstRow().decode(Int32.self, at: 0)
            }
            #expect(newPID != pid)
        }
    }

    @Test func reconnectsAfterTheServerRestarts() async throws {
        let server = try await EmbeddedPostgres.start()
        defer { server.destroy() }
        let pool = PostgresPool(
            configuration: try PostgresConfiguration(server.url),
            options: .init(maxConnections: 4, acquireTimeout: .seconds(30)))
        try await pool.query("CREATE TABLE survived (n int)")
        try server.stopServer()
        // While the server is down, a query waits (retrying the connection) instead of failing...
        let pending = Task { try await pool.query("INSERT INTO survived VALUES (1)") }
        try await Task.sleep(for: .milliseconds(700))
        try server.startServer()
        // ...and succeeds once it is back.
        _ = try await pending.value
        #expect(try await pool.query("SELECT count(*) FROM survived").firstRow().decode(Int.self, at: 0) == 1)
        await pool.close()
    }
}
