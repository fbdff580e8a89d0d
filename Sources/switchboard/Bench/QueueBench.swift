import ArgumentParser
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWorker

struct QueueBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Bulk enqueue rate, drain rate of no-op jobs, and idle enqueue→start latency.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Jobs per bulk enqueue (COPY).")
    var enqueueJobs: Int = 100_000

    @Option(help: "Jobs per drain run.")
    var drainJobs: Int = 50_000

    @Option(help: "Latency samples (single jobs, queue empty).")
    var samples: Int = 300

    @Option(
        help: """
            The drain's worker moves finished jobs to history this long after they finished ('off': never). The \
            default, 0s, has the archiver at work throughout the drain: the worst case for its rate.
            """)
    var archiveAfter: String = "0s"

    @Option(help: "Claims the drain's worker keeps out at once.")
    var claimsInFlight: Int = WorkerConfiguration().claimsInFlight

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 12) { pool, description, database in
            try await measure(pool: pool, server: description, database: database)
        }
    }

    private func measure(pool: PostgresPool, server: String, database: PostgresConfiguration) async throws {
        let store = JobStore(pool: pool)
        let archiveAge: Duration? =
            archiveAfter == "off" ? nil : try DurationParsing.parse(archiveAfter, field: "--archive-after")
        let runs = options.runs
        let serverCPU = try await CPUTime.Server.locate(pool)
        say("switchboard bench queue — \(server)")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
        )
        say("")

        // 1. Bulk enqueue via COPY (one transaction per batch, including encoding in Swift).
        var enqueueRates: [Double] = []
        for run in 1...runs {
            try await pool.query("TRUNCATE switchboard.jobs")
            let jobs = (0..<enqueueJobs).map { NewJob(kind: "noop", payload: PostgresJSON(text: "{\"n\": \($0)}")) }
            let start = ContinuousClock.now
            let inserted = try await store.enqueueMany(jobs)
            let seconds = (ContinuousClock.now - start).seconds
            enqueueRates.append(Double(inserted) / seconds)
            say(
                "enqueue run \(run): \(inserted) jobs in \(formatted(seconds, decimals: 3)) s = \(formatted(Double(inserted) / seconds)) jobs/s"
            )
        }

        // 2. Drain pre-inserted no-op jobs with one worker process at several settings.
        say(
            archiveAge.map { "drain: the worker's archiver moves jobs to history \($0) after they finished" }
                ?? "drain: no archiver (finished jobs stay in the hot table)")
        let settings = [(concurrency: 50, batch: 100), (concurrency: 100, batch: 100), (concurrency: 200, batch: 200)]
        var drainMedians: [(String, Double)] = []
        var drainCPU: [String: CPUPerJob] = [:]
        for setting in settings {
            var rates: [Double] = []
            var cpu: [CPUPerJob] = []
            for run in 1...runs {
                try await pool.query(
                    "TRUNCATE switchboard.jobs, switchboard.job_history, switchboard.job_history_counts")
                try await store.enqueueMany((0..<drainJobs).map { _ in NewJob(kind: "noop") })
                try await pool.query("VACUUM ANALYZE switchboard.jobs")
                var configuration = WorkerConfiguration()
                configuration.concurrency = setting.concurrency
                configuration.batchSize = setting.batch
                configuration.claimsInFlight = claimsInFlight
                configuration.archiveAfter = archiveAge
                configuration.archiveInterval = .milliseconds(500)
                let process = try WorkerProcess(
                    configuration: .init(worker: configuration), pool: pool, handlers: .standard, logger: quietLogger())
                let worker = process.worker
                let cpuBefore = CPUSnapshot(server: serverCPU, client: CPUTime.ofThisProcess())
                let start = ContinuousClock.now
                let running = Task { try await process.run() }
                // Every 5 ms: at most 0.3 % of a run, and fewer wake-ups charged to the worker's process.
                while worker.recordedFinishes < drainJobs {
                    try await Task.sleep(for: .milliseconds(5))
                }
                let seconds = (ContinuousClock.now - start).seconds
                let spent = CPUPerJob(
                    from: cpuBefore, to: CPUSnapshot(server: serverCPU, client: CPUTime.ofThisProcess()),
                    jobs: drainJobs)
                cpu.append(spent)
                let archived = try await pool.query("SELECT count(*) FROM switchboard.job_history")[0].decode(
                    Int.self, at: 0)
                worker.beginShutdown()
                try await running.value
                let completed = try await pool.query(
                    "SELECT count(*) FROM switchboard.all_jobs WHERE state = 'completed'")[0].decode(Int.self, at: 0)
                guard completed == drainJobs else {
                    throw CommandFailure("drain run finished with \(completed) of \(drainJobs) jobs completed")
                }
                rates.append(Double(drainJobs) / seconds)
                say(
                    "drain concurrency=\(setting.concurrency) batch=\(setting.batch) run \(run): \(drainJobs) jobs in "
                        + "\(formatted(seconds, decimals: 3)) s = \(formatted(Double(drainJobs) / seconds)) jobs/s, "
                        + "\(worker.claimQueries.load(ordering: .relaxed)) claim queries, \(archived) moved to history; "
                        + "CPU per job: \(spent.description(client: "worker process"))")
            }
            let label = "c\(setting.concurrency)_b\(setting.batch)"
            drainMedians.append((label, Statistics.median(rates)))
            drainCPU[label] = CPUPerJob.median(cpu)
        }

        // 2b. The same-run reference: the claim-and-complete loop in plain SQL under pgbench.
        var referenceRates: [Double] = []
        var referenceCPU: [CPUPerJob] = []
        if ClaimLoopReference.pgbench != nil {
            for run in 1...runs {
                try await pool.query("TRUNCATE switchboard.jobs")
                try await store.enqueueMany((0..<drainJobs).map { _ in NewJob(kind: "noop") })
                try await pool.query("VACUUM ANALYZE switchboard.jobs")
                let cpuBefore = CPUSnapshot(server: serverCPU, client: CPUTime.ofReapedChildren())
                let rate = try await ClaimLoopReference.run(
                    jobs: drainJobs, clients: Self.referenceClients, database: database)
                let spent = CPUPerJob(
                    from: cpuBefore, to: CPUSnapshot(server: serverCPU, client: CPUTime.ofReapedChildren()),
                    jobs: drainJobs)
                referenceCPU.append(spent)
                let completed = try await pool.query(
                    "SELECT count(*) FROM switchboard.jobs WHERE state = 'completed'")[0].decode(Int.self, at: 0)
                guard completed == drainJobs else {
                    throw CommandFailure("the pgbench loop completed \(completed) of \(drainJobs) jobs")
                }
                referenceRates.append(rate)
                say(
                    "reference run \(run): pgbench claim loop, \(Self.referenceClients) clients × "
                        + "\(ClaimLoopReference.batch) rows, 2 transactions per batch: \(formatted(rate)) rows/s; "
                        + "CPU per job: \(spent.description(client: "pgbench"))")
            }
        } else {
            say("reference: pgbench is not installed, so there is no same-run reference")
        }

        // 3. Idle latency: one job at a time into an empty queue; time from the producer's call to
        //    the handler starting (NOTIFY wake-up, claim, dispatch).
        try await pool.query("TRUNCATE switchboard.jobs")
        let (starts, startsContinuation) = AsyncStream.makeStream(of: (Int64, ContinuousClock.Instant).self)
        var handlers = HandlerRegistry.standard
        handlers.register("bench.latency") { job, _ in
            startsContinuation.yield((job.id, .now))
            return .completed(result: nil)
        }
        var configuration = WorkerConfiguration()
        configuration.concurrency = 10
        let process = try WorkerProcess(
            configuration: .init(worker: configuration), pool: pool, handlers: handlers, logger: quietLogger())
        let worker = process.worker
        let running = Task { try await process.run() }
        try await Task.sleep(for: .milliseconds(500))  // let the listener connect
        var latencies: [Double] = []
        var iterator = starts.makeAsyncIterator()
        let warmup = 10
        for sample in 0..<(samples + warmup) {
            let start = ContinuousClock.now
            let job = try await store.enqueue(NewJob(kind: "bench.latency"))
            while let (id, started) = await iterator.next() {
                if id == job.id {
                    if sample >= warmup { latencies.append((started - start).seconds * 1000) }
                    break
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        worker.beginShutdown()
        try await running.value

        let enqueueMedian = Statistics.median(enqueueRates)
        let bestDrain = drainMedians.max { $0.1 < $1.1 }!
        let p50 = Statistics.percentile(latencies, 0.5)
        let p99 = Statistics.percentile(latencies, 0.99)
        say("")
        say("results (medians of \(runs) runs)")
        say("  bulk enqueue (COPY, \(enqueueJobs) jobs/run):  \(formatted(enqueueMedian)) jobs/s")
        let reference = referenceRates.isEmpty ? nil : Statistics.median(referenceRates)
        for (label, rate) in drainMedians {
            let ratio = reference.map { " (\(formatted(rate / $0, decimals: 2))× the reference)" } ?? ""
            print("  drain \(label) (\(drainJobs) noop jobs/run):  \(formatted(rate)) jobs/s\(ratio)")
            if let cpu = drainCPU[label] { say("      CPU per job: \(cpu.description(client: "worker process"))") }
        }
        if let reference {
            say("  reference: pgbench claim loop (\(Self.referenceClients) clients):  \(formatted(reference)) rows/s")
            say("      CPU per job: \(CPUPerJob.median(referenceCPU).description(client: "pgbench"))")
        }
        say(
            "  idle enqueue→start latency (\(samples) samples):  p50 \(formatted(p50, decimals: 2)) ms, p99 \(formatted(p99, decimals: 2)) ms"
        )
        say("method: each figure is the median of --runs repetitions on a fresh table; drain is one worker")
        say("process with the given concurrency and claim batch, timed from start until every outcome is")
        say("written; latency is measured from the producer's enqueue call to the handler's first instruction;")
        say("the reference is pgbench running the worker's claim and a completion by id in plain SQL")
        say("(ClaimLoopReference.swift) over the same number of jobs on the same server, in the same run.")
        say("CPU per job: user + system time from /proc over the run, of the server (postmaster and its")
        say("children) and of the client (this process, the worker in it; or pgbench), divided by the jobs.")
        if options.json {
            var fields = [
                "\"enqueue_jobs_per_s\": \(formatted(enqueueMedian))",
                "\"drain_jobs_per_s\": \(formatted(bestDrain.1))",
                "\"drain_best_setting\": \"\(bestDrain.0)\"",
                "\"latency_p50_ms\": \(formatted(p50, decimals: 3))",
                "\"latency_p99_ms\": \(formatted(p99, decimals: 3))",
            ]
            fields += drainMedians.map { "\"drain_\($0.0)_jobs_per_s\": \(formatted($0.1))" }
            if let reference {
                fields.append("\"reference_pgbench_rows_per_s\": \(formatted(reference))")
                fields.append("\"drain_to_reference\": \(formatted(bestDrain.1 / reference, decimals: 2))")
            }
            fields.append("\"runs\": \(runs)")
            say("{" + fields.joined(separator: ", ") + "}")
        }
    }

    /// pgbench connections for the reference: one per claim in flight, as many as the worker's
    /// claims overlap at the settings above (it claims as slots free up, several at once).
    static let referenceClients = 10
}

/// CPU seconds used so far by the database server (nil when it is not local) and by a client.
struct CPUSnapshot {
    var server: Double?
    var client: Double

    init(server: CPUTime.Server?, client: CPUTime.Reading) {
        self.server = server?.reading()
        self.client = client
    }
}

/// CPU time spent per job during one run: by the database server and by its client.
struct CPUPerJob {
    /// Microseconds; nil when the server is not a local process.
    var server: Double?
    var client: Double

    init(from before: CPUSnapshot, to after: CPUSnapshot, jobs: Int) {
        let perJob = { (seconds: Double) in seconds / Double(jobs) * 1_000_000 }
        if let start = before.server, let end = after.server { server = perJob(end - start) }
        client = perJob(after.client - before.client)
    }

    private init(server: Double?, client: Double) {
        self.server = server
        self.client = client
    }

    static func median(_ runs: [CPUPerJob]) -> CPUPerJob {
        let servers = runs.compactMap(\.server)
        return CPUPerJob(
            server: servers.isEmpty ? nil : Statistics.median(servers), client: Statistics.median(runs.map(\.client)))
    }

    func description(client name: String) -> String {
        let serverPart = server.map { "server \(formatted($0, decimals: 1)) µs, " } ?? "server not local, "
        return serverPart + "\(name) \(formatted(client, decimals: 1)) µs"
    }
}
