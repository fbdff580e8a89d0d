import EmbeddedPostgres
import Foundation
import Logging
import Postgres
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing

@Suite struct RestartTests {
    /// The PostgreSQL server restarts while a worker drains 2,000 jobs: the worker reconnects and
    /// every job completes; none is lost.
    @Test func workerSurvivesAServerRestart() async throws {
        // Its own server, but as busy as any database test: not beside a wall-clock test.
        try await TestGate.holdingShared { try await drainThroughARestart() }
    }

    private func drainThroughARestart() async throws {
        let server = try await EmbeddedPostgres.start()
        defer { server.destroy() }
        let pool = PostgresPool(configuration: try PostgresConfiguration(server.url))
        try await Migrator(pool: pool).migrate()
        let store = JobStore(pool: pool)
        try await store.enqueueMany(
            (0..<2000).map { _ in NewJob(kind: "probe", payload: PostgresJSON(text: #"{"sleep_ms": 5}"#)) })
        let probe = Probe()
        var configuration = WorkerConfiguration()
        configuration.concurrency = 20
        configuration.pollInterval = .milliseconds(200)
        var logger = Logger(label: "test.restart")
        logger.logLevel = .critical
        let worker = try Worker(store: store, handlers: probe.registry, configuration: configuration, logger: logger)
        let running = Task { try await worker.run() }

        #expect(await eventually { probe.executions.value.count >= 300 })
        try server.stopServer()
        try await Task.sleep(for: .seconds(1))
        try server.startServer()

        let completed = await eventually(timeout: .seconds(120)) {
            try await pool.query("SELECT count(*) FROM switchboard.jobs WHERE state = 'completed'").firstRow().decode(
                Int.self, at: 0) == 2000
        }
        #expect(completed)
        worker.beginShutdown()
        try await running.value
        let executions = probe.executions.value
        #expect(executions.count == 2000, "every job ran")
        let states = try await pool.query("SELECT state::text, count(*) FROM switchboard.jobs GROUP BY 1")
            .map { "\(try $0.decode(String.self, at: 0))=\(try $0.decode(Int.self, at: 1))" }
        #expect(states == ["completed=2000"])
        await pool.close()
    }
}
