import ArgumentParser
import EmbeddedPostgres
import Foundation
import Hummingbird
import Logging
import Postgres
import ServiceTask
import SwitchboardCore
import SwitchboardEvents
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWorker
import Synchronization
import Twilio

/// `bench events`: what event webhooks cost where it matters — the cause's transaction (emitting
/// with a subscriber against emitting for nobody) — and how fast a worker delivers them to a
/// receiver on loopback, beside a no-op drain of as many jobs in the same run.
struct EventBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Event webhooks: emission cost in the cause's transaction, and deliveries per second to a receiver.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Events per run.") var events = 5000
    @Option(help: "Worker concurrency.") var concurrency = 100
    @Option(help: "Subjects the events are spread over (events of one subject are delivered in order).")
    var subjects = 5000

    func validate() throws {
        guard events >= 1, concurrency >= 1, subjects >= 1 else {
            throw ValidationError("--events, --concurrency and --subjects must be at least 1")
        }
    }

    /// Counts what it is sent, answering 204.
    final class Receiver: Sendable {
        let received = Atomic<Int>(0)
    }

    /// Hands out event numbers to the emitting tasks.
    final class Tickets: Sendable {
        let next = Atomic<Int>(0)
        func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
    }

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 24) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    private func measure(pool: PostgresPool, server: String) async throws {
        let logger = quietLogger()
        let receiver = Receiver()
        let port = try EmbeddedPostgres.freePort()
        let router = Router()
        router.post("hook") { _, _ -> HTTPResponse.Status in
            receiver.received.add(1, ordering: .relaxed)
            return .noContent
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        let receiverTask = ServiceTask(app, logger: logger)
        defer { receiverTask.stop() }
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let handlers = WorkerProcess.handlers(
            pool: pool, twilio: TwilioClient(), vault: vault, publicURL: nil, logger: logger)
        let store = EventStore(pool: pool, vault: vault)
        say("switchboard bench events — \(server); receiver on 127.0.0.1:\(port)")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(events) events/run over \(subjects) subjects, concurrency \(concurrency)"
        )
        var emitNobody: [Double] = []
        var emitOne: [Double] = []
        var delivered: [Double] = []
        var noop: [Double] = []
        for run in 1...options.runs {
            try await pool.query(
                "TRUNCATE switchboard.jobs, switchboard.events, switchboard.event_deliveries, switchboard.event_subscriptions CASCADE"
            )
            // Emission, as a status callback does it: one transaction per event, 16 at a time.
            let nobody = try await emit(pool: pool)
            try await pool.query("TRUNCATE switchboard.events CASCADE")
            _ = try await store.subscribe(
                url: "http://127.0.0.1:\(port)/hook", eventTypes: ["*"], account: nil, secret: WebhookSecret().text)
            let one = try await emit(pool: pool)
            try await pool.query("VACUUM ANALYZE switchboard.jobs")
            let before = receiver.received.load(ordering: .relaxed)
            let delivery = try await drain(pool: pool, handlers: handlers, logger: logger) {
                try await pool.query(
                    "SELECT count(*) FROM switchboard.event_deliveries WHERE state = 'delivered'"
                )[0].decode(Int.self, at: 0) >= events
            }
            let received = receiver.received.load(ordering: .relaxed) - before
            guard received >= events else {
                throw CommandFailure("run \(run): the receiver got \(received) of \(events) events")
            }
            // The reference: as many no-op jobs through the same worker.
            try await pool.query("TRUNCATE switchboard.jobs")
            try await JobStore(pool: pool).enqueueMany((0..<events).map { _ in NewJob(kind: "noop") })
            try await pool.query("VACUUM ANALYZE switchboard.jobs")
            let reference = try await drain(pool: pool, handlers: handlers, logger: logger) {
                try await pool.query("SELECT count(*) FROM switchboard.jobs WHERE state = 'completed'")[0]
                    .decode(Int.self, at: 0) >= events
            }
            emitNobody.append(nobody)
            emitOne.append(one)
            delivered.append(Double(events) / delivery)
            noop.append(Double(events) / reference)
            say(
                "run \(run): emit \(formatted(nobody, decimals: 0)) µs/event for nobody, \(formatted(one, decimals: 0)) µs with a subscriber; delivered \(formatted(Double(events) / delivery)) events/s; no-op drain \(formatted(Double(events) / reference)) jobs/s"
            )
        }
        let rate = Statistics.median(delivered)
        let reference = Statistics.median(noop)
        say("")
        say("result (median of \(options.runs) runs):")
        say(
            "  emission: \(formatted(Statistics.median(emitNobody))) µs per cause transaction with nobody subscribed, \(formatted(Statistics.median(emitOne))) µs with one subscriber (event + delivery + job written)"
        )
        say(
            "  delivery: \(formatted(rate)) events/s signed and POSTed (\(formatted(rate / reference, decimals: 2))× the no-op drain of \(formatted(reference)) jobs/s in the same runs)"
        )
        say(
            "method: each event emitted by switchboard.emit_event() in a transaction of its own, 16 connections at once (wall time per"
        )
        say(
            "event); then one worker process (concurrency \(concurrency)) delivers every event to a receiver on loopback answering 204, timed"
        )
        say("from worker start until all are recorded delivered; then as many noop jobs drained by the same worker.")
        if options.json {
            say(
                "{\"emit_nobody_us\": \(formatted(Statistics.median(emitNobody), decimals: 1)), \"emit_one_us\": \(formatted(Statistics.median(emitOne), decimals: 1)), \"delivered_per_s\": \(formatted(rate)), \"noop_per_s\": \(formatted(reference)), \"runs\": \(options.runs)}"
            )
        }
    }

    /// Wall time per event of emitting `events` events, each in a transaction of its own.
    private func emit(pool: PostgresPool) async throws -> Double {
        let start = ContinuousClock.now
        let tickets = Tickets()
        let subjects = self.subjects
        let events = self.events
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    while true {
                        let n = tickets.take()
                        guard n < events else { return }
                        try await pool.transaction { connection in
                            try await EventStore.emit(
                                .messageDelivered, subject: "message:\(n % subjects)", accountID: nil,
                                data: .object(["n": .int(Int64(n)), "status": .string("delivered")]), on: connection)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return (ContinuousClock.now - start).seconds * 1e6 / Double(events)
    }

    /// Runs a worker until `done`; returns the seconds it took.
    private func drain(
        pool: PostgresPool, handlers: HandlerRegistry, logger: Logger, done: @escaping @Sendable () async throws -> Bool
    ) async throws -> Double {
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.pollInterval = .milliseconds(100)
        let process = try WorkerProcess(
            configuration: .init(worker: configuration), pool: pool, handlers: handlers, logger: logger)
        let start = ContinuousClock.now
        let running = Task { try await process.run() }
        while try await !done() { try await Task.sleep(for: .milliseconds(5)) }
        let seconds = (ContinuousClock.now - start).seconds
        process.worker.beginShutdown()
        try await running.value
        return seconds
    }
}
