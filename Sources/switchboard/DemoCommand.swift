import ArgumentParser
import EmbeddedPostgres
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the queue end to end on a throwaway local PostgreSQL (no credentials needed).",
        discussion: """
            Starts PostgreSQL in a temporary directory, migrates it, enqueues jobs (some fail and are
            retried, some fail for good), runs a worker with live progress, and prints the outcome.
            Sending through Twilio (and its simulator) is not part of the demo yet.
            """)

    @Option(help: "Jobs to enqueue.")
    var jobs: Int = 2000

    func validate() throws {
        guard (1...1_000_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 1000000") }
    }

    func run() async throws {
        print("starting a throwaway PostgreSQL…")
        let server = try await EmbeddedPostgres.start()
        defer { server.destroy() }
        let pool = PostgresPool(configuration: try PostgresConfiguration(server.url))
        let store = JobStore(pool: pool)
        let applied = try await Migrator(pool: pool).migrate()
        print("migrated: \(applied.map(\.name).joined(separator: ", "))")

        // Every 20th job fails twice before succeeding; every 100th fails permanently.
        let newJobs = (0..<jobs).map { n -> NewJob in
            let payload =
                if n % 100 == 99 { #"{"fail": "invalid recipient (demo)", "permanent": true}"# } else if n % 20 == 19 {
                    #"{"fail": "upstream timeout (demo)", "fail_attempts": 2}"#
                } else { #"{"sleep_ms": 2}"# }
            return NewJob(kind: "noop", payload: PostgresJSON(text: payload))
        }
        let start = ContinuousClock.now
        let inserted = try await store.enqueueMany(newJobs)
        print(
            "enqueued \(inserted) jobs with COPY in \(formatted((ContinuousClock.now - start).seconds * 1000, decimals: 1)) ms"
        )

        var configuration = WorkerConfiguration()
        configuration.concurrency = 50
        configuration.retryPolicy = RetryPolicy(base: .milliseconds(200), cap: .seconds(2), minimum: .milliseconds(50))
        var logger = Logger(label: "switchboard.demo") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let worker = try Worker(store: store, configuration: configuration, logger: logger)
        let running = Task { try await worker.run() }
        let drainStart = ContinuousClock.now
        // On a terminal the progress line redraws in place; in a log it is a line per second.
        let interactive = isatty(1) == 1
        var lastLine = ContinuousClock.now - .seconds(10)
        while true {
            let counts = try await store.countByState()
            let finished = (counts[.completed] ?? 0) + (counts[.failed] ?? 0)
            let line =
                "progress: \(finished)/\(jobs) finished  (running \(counts[.running] ?? 0), waiting \(counts[.available] ?? 0))"
            if interactive {
                print("\r" + line + "   ", terminator: "")
            } else if ContinuousClock.now - lastLine >= .seconds(1) || finished == jobs {
                print(line)
                lastLine = .now
            }
            fflush(nil)
            if finished == jobs { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        if interactive { print("") }
        worker.beginShutdown()
        try await running.value
        let seconds = (ContinuousClock.now - drainStart).seconds
        let counts = try await store.countByState()
        let retried = try await pool.query(
            "SELECT count(*) FROM switchboard.jobs WHERE state = 'completed' AND attempt > 1")[0].decode(
                Int.self, at: 0)
        print("done in \(formatted(seconds, decimals: 2)) s:")
        print("  completed  \(counts[.completed] ?? 0)  (\(retried) of them after retries with backoff)")
        print("  failed     \(counts[.failed] ?? 0)  (permanent errors are not retried)")
        if let failed = try await pool.query(
            "SELECT id FROM switchboard.jobs WHERE state = 'failed' ORDER BY id LIMIT 1"
        ).first,
            let record = try await store.job(id: try failed.decode(Int64.self, at: 0))
        {
            print("  e.g. job \(record.id): \(record.errors.last?.error ?? "")")
        }
        await pool.close()
    }
}
