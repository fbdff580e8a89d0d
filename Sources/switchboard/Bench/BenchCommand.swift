import ArgumentParser
import EmbeddedPostgres
import Foundation
import Logging
import Postgres
import SwitchboardStore

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Switchboard on this machine (build with -c release first).",
        discussion: """
            Without DATABASE_URL (or --database-url) a throwaway PostgreSQL is started with durable
            settings (fsync and synchronous_commit on). With --json the last line is one JSON object.
            Example: swift build -c release && .build/release/switchboard bench queue --json
            """,
        subcommands: [
            QueueBench.self, SendBench.self, RateLimitBench.self, WebhookBench.self, RelayBench.self, ScaleBench.self,
            EventBench.self, PriceBench.self, ReportBench.self, LinkBench.self,
        ])
}

/// Options every benchmark shares.
struct BenchOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"), help: "PostgreSQL to use (default: $DATABASE_URL, else a throwaway server).")
    var databaseURL: String?

    @Flag(help: "Print the figures as one JSON object on the last line.")
    var json = false

    @Option(help: "Repetitions of each measurement; the median is reported.")
    var runs: Int = 5

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    /// A database for the benchmark: a fresh one on the given server, or a throwaway server.
    func withDatabase<T: Sendable>(_ body: (PostgresConfiguration, String) async throws -> T) async throws -> T {
        let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"]
        if let url, !url.isEmpty {
            let configuration = try PostgresConfiguration(url)
            return try await body(configuration, "given server (\(configuration["host"] ?? "local"))")
        }
        print("starting a throwaway PostgreSQL (durable settings)…")
        let server = try await EmbeddedPostgres.start(.init(durable: true))
        defer { server.destroy() }
        let version = try await PostgresConnection.connect(try PostgresConfiguration(server.url))
            .query("SHOW server_version")[0].decode(String.self, at: 0)
        return try await body(
            try PostgresConfiguration(server.url),
            "throwaway PostgreSQL \(version) on 127.0.0.1, fsync=on, synchronous_commit=on")
    }
}

extension BenchOptions {
    /// A migrated database of its own on the benchmark's server, dropped afterwards.
    func withScratchDatabase(poolSize: Int, _ body: (PostgresPool, String) async throws -> Void) async throws {
        try await withScratchDatabase(poolSize: poolSize) { pool, description, _ in try await body(pool, description) }
    }

    /// As above, with the scratch database's connection settings (for a child process).
    func withScratchDatabase(
        poolSize: Int, _ body: (PostgresPool, String, PostgresConfiguration) async throws -> Void
    ) async throws {
        try await withDatabase { server, description in
            let name = "switchboard_bench_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
            try await ScratchDatabase.create(name, on: server)
            let pool = PostgresPool(configuration: server.withDatabase(name), options: .init(maxConnections: poolSize))
            var failure: (any Error)?
            do {
                try await body(pool, description, server.withDatabase(name))
            } catch {
                failure = error
            }
            await pool.close()
            await ScratchDatabase.drop(name, on: server)
            if let failure { throw failure }
        }
    }
}

/// Sorted-sample statistics.
enum Statistics {
    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = p * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down))
        let high = Int(rank.rounded(.up))
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
    }
}

/// The benchmarks' logger for the processes they run: warnings and errors only, on stderr.
/// The processes' own log handler (as `switchboard worker` logs), warnings and above: swift-log's
/// stream handler renders its metadata again on every change, a cost per job a worker does not pay.
func quietLogger() -> Logger {
    var logger = Logger(label: "switchboard.bench") { SwitchboardLogHandler(label: $0, format: .human) }
    logger.logLevel = .warning
    return logger
}

/// Prints and flushes at once, so progress shows when output is piped (CI logs).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

func formatted(_ value: Double, decimals: Int = 0) -> String {
    String(format: "%.\(decimals)f", value)
}
