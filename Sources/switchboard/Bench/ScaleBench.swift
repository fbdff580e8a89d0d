import ArgumentParser
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import Synchronization

/// Issue 15's scale benchmark: the queue with a campaign of 10 k, 1 M and 10 M recipients and a
/// million jobs dated later behind it. The 10 k step is the same-run reference for the others.
struct ScaleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Claim latency, campaign drain rate, import rate and disk use with campaigns of 10 k to 10 M.",
        discussion: """
            Each step is a fresh database: a million no-op jobs dated a day later, one campaign of N recipients
            imported from a CSV file (timed), then a worker process (its feeder included; its sms handler does
            nothing) drains the campaign. Claims of 100 are timed while the queue holds what the feeder put there;
            so are claims by a worker of a kind no queued job has. The 10 k step is the reference: the targets are
            claim p99 and drain rate at 10 M within 20 % of it. Disk use is read before the database is dropped.
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Campaign sizes, comma separated; the first is the reference.")
    var recipients = "10000,1000000,10000000"

    @Option(help: "Jobs dated a day later in the queue beside the campaign.")
    var futureJobs = 1_000_000

    @Option(help: "The campaign's pace (its rate cap, messages per second): what its senders can absorb.")
    var pace: Double = 50_000

    @Option(help: "The feeder's look-ahead (seconds of the pace the queue may hold).")
    var lookahead = 2

    @Option(help: "Jobs per timed drain window: a worker process started on the queue drains this many (--runs times).")
    var drainJobs = 10_000

    @Option(help: "Timed claims of 100 per kind of claim.")
    var claims = 200

    func run() async throws {
        let sizes = try recipients.split(separator: ",").map { text -> Int in
            guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size >= 1000 else {
                throw ValidationError("--recipients: '\(text)' is not a size of at least 1000")
            }
            return size
        }
        say("switchboard bench scale — campaigns of \(sizes.map(String.init).joined(separator: ", ")) recipients")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; "
                + "\(futureJobs) jobs dated later; pace \(formatted(pace))/s, look-ahead \(lookahead) s")
        var steps: [Step] = []
        for size in sizes {
            try await options.withScratchDatabase(poolSize: 16) { pool, description in
                if steps.isEmpty { say("server: \(description)") }
                steps.append(try await measure(size: size, pool: pool))
            }
        }
        report(steps)
    }

    struct Step {
        var recipients: Int
        var importSeconds: Double
        var claimMilliseconds: [Double]
        var absentKindMilliseconds: [Double]
        var drainRates: [Double]
        var maxLive: Int
        var capacity: Int
        var sizes: [(String, Int64)]
        var deadJobs: Int
        var liveJobsAfter: Int

        var importRate: Double { Double(recipients) / importSeconds }
        var claimP50: Double { Statistics.percentile(claimMilliseconds, 0.5) }
        var claimP99: Double { Statistics.percentile(claimMilliseconds, 0.99) }
        var drain: Double { Statistics.median(drainRates) }
    }

    private func measure(size: Int, pool: PostgresPool) async throws -> Step {
        say("")
        say("== \(size) recipients")
        let store = JobStore(pool: pool)
        // 1. A million jobs dated a day later: scheduled, outside the claim path.
        let later = Date().addingTimeInterval(86_400)
        var written = 0
        while written < futureJobs {
            let count = min(100_000, futureJobs - written)
            try await store.enqueueMany((0..<count).map { _ in NewJob(kind: "noop", runAt: later) })
            written += count
        }
        say("jobs dated later: \(written)")

        // 2. The campaign and its import from a CSV file.
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let accounts = AccountStore(pool: pool, vault: vault)
        try await accounts.upsert(
            name: "bench", accountSID: "AC" + String(repeating: "5ca1", count: 8), secret: "bench-token-not-a-secret")
        let accountID = try await accounts.account(named: "bench")!.id
        let campaigns = CampaignStore(pool: pool)
        let template = #"{"account": "bench", "from": "+15557654321", "body": "Hi {{name}}, your code is {{code}}"}"#
        try await campaigns.create(
            accountID: accountID, name: "scale", channel: .sms, template: PostgresJSON(text: template), rateCap: pace)
        let campaign = try await campaigns.campaign(accountID: accountID, name: "scale")!
        let path = try Self.writeRecipients(size)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let importStart = ContinuousClock.now
        let report = try await CampaignImport(campaigns: campaigns).run(path: path, campaign: campaign) { rows in
            if rows % 1_000_000 == 0 { say("  imported \(rows) rows…") }
        }
        let importSeconds = (ContinuousClock.now - importStart).seconds
        guard report.counts.queued == size else {
            throw CommandFailure("the import queued \(report.counts.queued) of \(size) recipients")
        }
        say(
            "import: \(size) recipients in \(formatted(importSeconds, decimals: 1)) s = "
                + "\(formatted(Double(size) / importSeconds)) recipients/s")
        try await pool.query("VACUUM ANALYZE switchboard.jobs")
        try await pool.query("VACUUM ANALYZE switchboard.campaign_recipients")
        // The import's gigabytes are written out now, not by the checkpointer during the claims
        // (a server given by URL may not allow it: then the claims share the disk with it).
        _ = try? await pool.query("CHECKPOINT")

        // 3. Claims while the queue holds what the feeder put there, each rolled back (so the
        //    timing consumes nothing), and claims by a worker of a kind no queued job has.
        let lookahead = Duration.seconds(lookahead)
        let feeder = CampaignFeeder(campaigns: campaigns, lookahead: lookahead, logger: quietLogger())
        while try await feeder.feedOnce() {}
        let fed = try await store.countByState()[.available] ?? 0
        var claimTimes: [Double] = []
        var absentTimes: [Double] = []
        for kinds in [["sms"], ["voice"]] {
            for _ in 0..<claims {
                let milliseconds = try await pool.withConnection { connection in
                    try await connection.query("BEGIN")
                    let start = ContinuousClock.now
                    let claimed = try await store.claim(
                        queue: "default", kinds: kinds, limit: 100, workerID: "bench", lease: .seconds(60),
                        on: connection)
                    let elapsed = (ContinuousClock.now - start).seconds * 1000
                    try await connection.query("ROLLBACK")
                    guard claimed.count == (kinds == ["sms"] ? min(100, fed) : 0) else {
                        throw CommandFailure("a claim of \(kinds) took \(claimed.count) jobs")
                    }
                    return elapsed
                }
                if kinds == ["sms"] { claimTimes.append(milliseconds) } else { absentTimes.append(milliseconds) }
            }
        }
        try await pool.query("VACUUM switchboard.jobs")
        say(
            "claims of 100 (\(claims) timed, \(fed) jobs fed): p50 "
                + "\(formatted(Statistics.percentile(claimTimes, 0.5), decimals: 2)) ms, p99 "
                + "\(formatted(Statistics.percentile(claimTimes, 0.99), decimals: 2)) ms; "
                + "a kind no job has: p50 \(formatted(Statistics.percentile(absentTimes, 0.5), decimals: 2)) ms, "
                + "p99 \(formatted(Statistics.percentile(absentTimes, 0.99), decimals: 2)) ms")

        // 4. The drain: each window a worker process (its feeder included) started on the queue, at
        //    the queue benchmark's best setting, timed until it has written `drainJobs` outcomes.
        //    A campaign too small for another window is followed by a new one of the same size.
        var handlers = HandlerRegistry.standard
        handlers.register("sms") { _, _ in .completed(result: nil) }
        var configuration = WorkerConfiguration()
        configuration.concurrency = 200
        configuration.batchSize = 200
        let maxLive = Atomic<Int>(0)
        let sampling = Task {
            while !Task.isCancelled {
                let live = try await pool.query(
                    """
                    SELECT count(*)::int FROM switchboard.jobs
                    WHERE payload ? 'campaignId' AND state IN ('scheduled', 'available', 'running')
                    """)[0].decode(Int.self, at: 0)
                _ = maxLive.max(live, ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        var rates: [Double] = []
        var left = size
        var refills = 0
        for run in 1...options.runs {
            if left < drainJobs {
                refills += 1
                let name = "scale-\(refills)"
                try await campaigns.create(
                    accountID: accountID, name: name, channel: .sms, template: PostgresJSON(text: template),
                    rateCap: pace)
                let next = try await campaigns.campaign(accountID: accountID, name: name)!
                _ = try await CampaignImport(campaigns: campaigns).run(path: path, campaign: next)
                left += size
            }
            let window = min(drainJobs, left)
            let process = try WorkerProcess(
                configuration: .init(worker: configuration, campaignLookahead: lookahead), pool: pool,
                handlers: handlers, logger: quietLogger())
            let worker = process.worker
            let start = ContinuousClock.now
            let running = Task { try await process.run() }
            var progress = (count: 0, at: start)
            while worker.recordedFinishes < window {
                try await Task.sleep(for: .milliseconds(1))
                if worker.recordedFinishes > progress.count {
                    progress = (worker.recordedFinishes, .now)
                } else if ContinuousClock.now - progress.at > .seconds(60) {
                    throw CommandFailure("the drain stalled at \(progress.count) jobs")
                }
            }
            let seconds = (ContinuousClock.now - start).seconds
            worker.beginShutdown()
            try await running.value
            left -= worker.recordedFinishes
            rates.append(Double(window) / seconds)
            say(
                "drain window \(run): \(window) jobs in \(formatted(seconds, decimals: 3)) s = "
                    + "\(formatted(Double(window) / seconds)) jobs/s")
        }
        sampling.cancel()

        // 5. What is on disk, and what the drain left behind.
        let sizes = try await pool.query(
            """
            SELECT name, size FROM (VALUES
                ('jobs (table)', pg_relation_size('switchboard.jobs')),
                ('jobs (indexes)', pg_indexes_size('switchboard.jobs')),
                ('campaign_recipients (table)', pg_relation_size('switchboard.campaign_recipients')),
                ('campaign_recipients (indexes)', pg_indexes_size('switchboard.campaign_recipients')),
                ('database', pg_database_size(current_database()))) AS s(name, size)
            """
        ).map { (try $0.decode(String.self, at: 0), try $0.decode(Int64.self, at: 1)) }
        let dead = try await pool.query(
            "SELECT n_dead_tup::int FROM pg_stat_user_tables WHERE relid = 'switchboard.jobs'::regclass"
        )[0].decode(Int.self, at: 0)
        let liveAfter = try await pool.query(
            "SELECT count(*)::int FROM switchboard.jobs WHERE state IN ('available', 'running')"
        )[0].decode(Int.self, at: 0)
        for (name, bytes) in sizes { say("size \(name): \(formatted(Double(bytes) / 1_048_576, decimals: 1)) MiB") }
        say("jobs: \(dead) dead tuples, \(liveAfter) available or running after the drain")
        let capacity = CampaignFeedPlan(pace: pace, lookahead: lookahead, batch: CampaignFeeder.batchLimit).capacity
        say("campaign jobs live at once: at most \(maxLive.load(ordering: .relaxed)) (look-ahead capacity \(capacity))")
        return Step(
            recipients: size, importSeconds: importSeconds, claimMilliseconds: claimTimes,
            absentKindMilliseconds: absentTimes, drainRates: rates, maxLive: maxLive.load(ordering: .relaxed),
            capacity: capacity, sizes: sizes, deadJobs: dead, liveJobsAfter: liveAfter)
    }

    private func report(_ steps: [Step]) {
        guard let reference = steps.first else { return }
        say("")
        say("results (claims: percentiles of the timed claims; drain: median of --runs windows)")
        say("  recipients   import/s   claim p50   claim p99   absent-kind p99   drain jobs/s   max live   database")
        for step in steps {
            let database = step.sizes.first { $0.0 == "database" }?.1 ?? 0
            say(
                "  \(pad(step.recipients, 10))   \(pad(Int(step.importRate), 8))   "
                    + "\(pad(formatted(step.claimP50, decimals: 2), 6)) ms   \(pad(formatted(step.claimP99, decimals: 2), 6)) ms   "
                    + "\(pad(formatted(Statistics.percentile(step.absentKindMilliseconds, 0.99), decimals: 2), 12)) ms   "
                    + "\(pad(Int(step.drain), 12))   \(pad(step.maxLive, 8))   "
                    + "\(formatted(Double(database) / 1_073_741_824, decimals: 2)) GiB")
        }
        for step in steps.dropFirst() {
            say(
                "  \(step.recipients) against \(reference.recipients): claim p99 "
                    + "\(formatted(step.claimP99 / reference.claimP99, decimals: 2))×, drain "
                    + "\(formatted(step.drain / reference.drain, decimals: 2))× (target: within 0.8–1.2×)")
        }
        say("method: each step a fresh database on the same server; claims of 100 by JobStore.claim timed from the")
        say("call to the decoded answer, each in a transaction rolled back after; the drain is one worker process at")
        say("concurrency 200, batch 200, its feeder feeding the campaign at --pace with --lookahead, timed per window")
        say("from the first to the last outcome written; max live is sampled every 100 ms.")
        if options.json {
            var fields: [String] = []
            for step in steps {
                let key = "r\(step.recipients)"
                fields += [
                    "\"\(key)_import_per_s\": \(formatted(step.importRate))",
                    "\"\(key)_claim_p50_ms\": \(formatted(step.claimP50, decimals: 3))",
                    "\"\(key)_claim_p99_ms\": \(formatted(step.claimP99, decimals: 3))",
                    "\"\(key)_drain_jobs_per_s\": \(formatted(step.drain))",
                    "\"\(key)_max_live\": \(step.maxLive)",
                    "\"\(key)_database_bytes\": \(step.sizes.first { $0.0 == "database" }?.1 ?? 0)",
                ]
            }
            say("{" + fields.joined(separator: ", ") + "}")
        }
    }

    private func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
        let text = value.description
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// A CSV of `count` distinct valid US numbers with two variables, written line by line.
    static func writeRecipients(_ count: Int) throws -> String {
        let path = NSTemporaryDirectory() + "switchboard-scale-\(getpid())-\(count).csv"
        guard let file = fopen(path, "w") else { throw CommandFailure("cannot write \(path)") }
        defer { fclose(file) }
        fputs("phone,name,code\n", file)
        for index in 0..<count {
            // 8 million numbers per area code (exchange 200–999).
            let area = [212, 213, 312, 415][index / 8_000_000 % 4]
            fputs("+1\(area)\(2_000_000 + index % 8_000_000),Name\(index),C\(index % 10_000)\n", file)
        }
        return path
    }
}
