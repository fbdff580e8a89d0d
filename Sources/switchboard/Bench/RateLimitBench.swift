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

struct RateLimitBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ratelimit",
        abstract: "Accuracy and overhead of the per-number rate limiter (slots booked in Postgres, no Twilio calls).")

    @OptionGroup var options: BenchOptions
    @Option(help: "Senders in the pool.") var senders = 200
    @Option(help: "Segments per second per sender.") var rate = 20.0
    @Option(help: "Seconds of backlog to send at full rate.") var seconds = 10.0
    @Option(help: "Worker concurrency.") var concurrency = 400
    @Option(help: "How far ahead a sender may be booked (seconds); small values make a saturated backlog.")
    var horizon = 300.0

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 20) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    private func measure(pool: PostgresPool, server: String) async throws {
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let account = try await AccountStore(pool: pool, vault: vault)
            .upsert(
                name: "bench", accountSID: "AC" + String(repeating: "ab", count: 16),
                secret: "bench-secret-not-used-here")
        let senderStore = SenderStore(pool: pool)
        var ids: [Int64] = []
        for n in 0..<senders {
            ids.append(
                try await senderStore.addSender(
                    accountID: account, address: "+1415\(String(format: "%07d", n))", kind: .longCode, rate: rate))
        }
        try await senderStore.createPool(accountID: account, name: "bench", senderIDs: ids, sticky: false)
        let messages = Int(Double(senders) * rate * seconds)
        let store = JobStore(pool: pool)
        var jobs: [NewJob] = []
        jobs.reserveCapacity(messages)
        for n in 0..<messages {
            var request = MessageRequest(account: "bench", to: "+1212\(String(format: "%07d", n))", body: "x")
            request.pool = "bench"
            var payload = try PostgresJSON.encoding(try request.resolve(channel: .sms)).text
            payload.removeLast()
            payload += ",\"accountId\":\(account)}"
            jobs.append(NewJob(kind: LimiterProbe.kind, payload: PostgresJSON(text: payload)))
        }
        try await store.enqueueMany(jobs)
        try await pool.query("VACUUM ANALYZE switchboard.jobs")

        let sends = SendLog()
        var handlers = HandlerRegistry()
        LimiterProbe.register(in: &handlers, senders: senderStore, horizon: .milliseconds(Int64(horizon * 1000))) {
            from, at in sends.append(from, at)
        }
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.batchSize = 200
        var logger = Logger(label: "bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let process = try WorkerProcess(
            configuration: .init(worker: configuration), pool: pool, handlers: handlers, logger: logger)
        let worker = process.worker
        let transactionsBefore = try await transactions(pool)
        say("switchboard bench ratelimit — \(server)")
        say(
            "\(senders) senders × \(rate) segments/s = \(Int(Double(senders) * rate))/s configured; \(messages) messages queued"
        )
        let running = Task { try await process.run() }
        while worker.recordedFinishes < messages || sends.count < messages {
            try await Task.sleep(for: .milliseconds(20))
        }
        worker.beginShutdown()
        try await running.value
        let transactionsAfter = try await transactions(pool)

        let all = sends.entries.sorted { $0.1 < $1.1 }
        let span = (all.last!.1 - all.first!.1).seconds
        // The last send happens one interval before the backlog's capacity is used up.
        let ideal = Double(messages) / (Double(senders) * rate)
        let achieved = ideal / max(span + 1 / rate, 1e-9)
        var violations = 0
        var busiestWindow = 0
        for (_, times) in Dictionary(grouping: all, by: \.0) {
            let sorted = times.map(\.1)
            var start = 0
            for end in sorted.indices {
                while sorted[end] - sorted[start] >= .seconds(1) { start += 1 }
                // Rate plus the burst of 1 at a window boundary.
                if Double(end - start + 1) > rate + 1 { violations += 1 }
                busiestWindow = max(busiestWindow, end - start + 1)
            }
        }
        let queriesPerMessage = Double(transactionsAfter - transactionsBefore) / Double(messages)
        let queriesPerSecond = Double(transactionsAfter - transactionsBefore) / max(span, 0.001)
        say(
            "sent \(all.count) in \(formatted(span, decimals: 2)) s (ideal \(formatted(ideal, decimals: 2)) s): "
                + "achieved \(formatted(achieved * 100, decimals: 1))% of the configured rate")
        say(
            "violations (a sender above rate + burst in some 1-second window): \(violations); "
                + "busiest 1-second window of one sender: \(busiestWindow) sends")
        say(
            "Postgres transactions per message: \(formatted(queriesPerMessage, decimals: 2)) (claims, reservations, snoozes, "
                + "completions); \(formatted(queriesPerSecond, decimals: 1)) per second")
        say(
            "method: one worker process, slots booked in batches as real sends do (one transaction per batch: the pool's turn, its senders locked and read, PoolSelection; horizon \(formatted(horizon)) s), handler records the"
        )
        say("send instant instead of calling Twilio; transactions counted from pg_stat_database before and after.")
        if options.json {
            say(
                "{\"achieved_fraction\": \(formatted(achieved, decimals: 4)), \"violations\": \(violations), "
                    + "\"busiest_window\": \(busiestWindow), "
                    + "\"queries_per_message\": \(formatted(queriesPerMessage, decimals: 3)), "
                    + "\"queries_per_s\": \(formatted(queriesPerSecond, decimals: 1)), \"senders\": \(senders), "
                    + "\"rate\": \(rate), \"horizon_s\": \(horizon)}"
            )
        }
    }

    private func transactions(_ pool: PostgresPool) async throws -> Int {
        // Statistics are flushed lazily; force it so the count is current.
        try await pool.query("SELECT pg_stat_force_next_flush()")
        return try await pool.query(
            "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()"
        )[0].decode(Int.self, at: 0)
    }
}

/// Send instants reported by the probe handler.
final class SendLog: Sendable {
    private let storage = Mutex<[(String, ContinuousClock.Instant)]>([])
    func append(_ from: String, _ at: ContinuousClock.Instant) { storage.withLock { $0.append((from, at)) } }
    var count: Int { storage.withLock { $0.count } }
    var entries: [(String, ContinuousClock.Instant)] { storage.withLock { $0 } }
}
