import EmbeddedPostgres
import Foundation
import Logging
import Postgres
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing

@Suite struct RestartTests {
    /// The PostgreSQL server restarts while a worker process drains 2,000 jobs: the worker
    /// reconnects and every job completes exactly once; none is lost.
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
        // The whole worker process, rescuer included: a claim whose answer the restart cut off
        // leaves jobs locked by a worker that never got them, and only a rescue brings them back.
        // A lease far longer than the outage: a job that was running keeps it (and runs once).
        configuration.lease = .seconds(10)
        configuration.heartbeatInterval = .milliseconds(2500)
        configuration.rescueInterval = .milliseconds(500)
        let process = try WorkerProcess(
            configuration: .init(worker: configuration), pool: pool, handlers: probe.registry, logger: logger)
        let worker = process.worker
        let running = Task { try await process.run() }

        #expect(await eventually { probe.executions.value.count >= 300 })
        try server.stopServer()
        try await Task.sleep(for: .seconds(1))
        try server.startServer()

        let completed = await eventually(timeout: .seconds(120)) {
            try await pool.query("SELECT count(*) FROM switchboard.all_jobs WHERE state = 'completed'").firstRow()
                .decode(
                    Int.self, at: 0) == 2000
        }
        #expect(completed)
        worker.beginShutdown()
        try await running.value
        let executions = probe.executions.value
        #expect(executions.count == 2000, "every job ran")
        let states = try await pool.query("SELECT state::text, count(*) FROM switchboard.all_jobs GROUP BY 1")
            .map { "\(try $0.decode(String.self, at: 0))=\(try $0.decode(Int.self, at: 1))" }
        #expect(states == ["completed=2000"])
        await pool.close()
    }
}
